/**
 * This module adds rtdcs (the open-source real-time audience Data Collection Server) as a
 * Real Time Data provider to Prebid.js.
 *
 * The rtdcs page tag (`<script src="https://<dcs>/tag.js">`) calls the DCS on each page view.
 * This submodule hands each auction to the tag's `rtdcs.prebidRtd()`, which waits for that
 * answer (at most `params.waitMs`) and adds the visitor's segments to
 * `ortb2Fragments.global.user.data` as one OpenRTB 2.6 Data object, replacing an entry of the
 * same `name`. The merge lives in the tag, which the DCS serves, so a fix there reaches every
 * Prebid build without a rebuild. Without the tag on the page, nothing is added and the
 * auction goes on at once; a tag that fails or never calls back cannot hold it past `waitMs`.
 *
 * @module modules/rtdcsRtdProvider
 * @requires module:modules/realTimeData
 */
import { submodule } from '../src/hook.js';
import { isFn, isNumber, logInfo, logWarn } from '../src/utils.js';

const MODULE_NAME = 'realTimeData';
const SUBMODULE_NAME = 'rtdcs';
const LOG_PREFIX = 'rtdcs RTD: ';
// Under Prebid's usual auctionDelay (300 ms): a late answer's stored segments still make it.
export const DEFAULT_WAIT_MS = 250;
// How long after waitMs the auction is released if the tag never calls back.
export const GRACE_MS = 20;

/**
 * The rtdcs tag's page API, or null when the tag is not on the page.
 * @returns {Object|null}
 */
export function pageTag() {
  const tag = window.rtdcs;
  return tag && isFn(tag.prebidRtd) ? tag : null;
}

/** @returns {boolean} */
function init(config, userConsent) {
  return true;
}

/**
 * @param {Object} reqBidsConfigObj
 * @param {function} callback
 * @param {Object} config the dataProviders entry: params {name, segtax, waitMs}
 * @param {Object} userConsent
 */
function getBidRequestData(reqBidsConfigObj, callback, config, userConsent) {
  const params = Object.assign({}, config && config.params);
  params.waitMs = isNumber(params.waitMs) ? params.waitMs : DEFAULT_WAIT_MS;
  let called = false;
  let timer = null;
  const done = () => {
    if (called) return;
    called = true;
    if (timer !== null) clearTimeout(timer);
    callback();
  };
  const tag = pageTag();
  if (!tag) {
    logInfo(LOG_PREFIX + 'the rtdcs tag is not on the page; no segments added');
    done();
    return;
  }
  timer = setTimeout(() => {
    logWarn(LOG_PREFIX + 'the rtdcs tag did not call back within waitMs');
    done();
  }, params.waitMs + GRACE_MS);
  try {
    tag.prebidRtd(reqBidsConfigObj, done, params);
  } catch (error) {
    logWarn(LOG_PREFIX + 'the rtdcs tag failed', error);
    done();
  }
}

export const rtdcsSubmodule = {
  name: SUBMODULE_NAME,
  init,
  getBidRequestData,
};

submodule(MODULE_NAME, rtdcsSubmodule);
