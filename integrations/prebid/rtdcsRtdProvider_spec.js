// Unit tests for modules/rtdcsRtdProvider.js, in Prebid.js's conventions: this file sits at
// test/spec/modules/rtdcsRtdProvider_spec.js in a Prebid.js tree and runs with Prebid's own
// runner (karma + mocha + chai + sinon):
//   gulp test --file test/spec/modules/rtdcsRtdProvider_spec.js
// devtools/prebid/build_prebid.sh <version> --test copies it there and runs it.
//
// The submodule hands each auction to the page tag's window.rtdcs.prebidRtd(req, done, params),
// which merges the segments into req.ortb2Fragments.global.user.data and calls done. Prebid's
// tests cannot load the tag itself, so `fakeTag` below stands in for it with the same contract:
// wait for the tag's answer (at most params.waitMs), then add one OpenRTB Data object
// {name, ext: {segtax}, segment: [{id}]} in place, replacing an entry of the same name.
import { expect } from 'chai';
import sinon from 'sinon';
import * as utils from 'src/utils.js';
import { rtdcsSubmodule, pageTag, DEFAULT_WAIT_MS, GRACE_MS } from 'modules/rtdcsRtdProvider.js';

const SEGMENTS = ['s1', 's2'];

// The tag's merge: in place, since ortb2Fragments.global may be a getter-only property.
function mergeUserData(req, data) {
  const global = req.ortb2Fragments.global;
  if (!global.user) global.user = {};
  const kept = (global.user.data || []).filter(d => !d || d.name !== data.name);
  global.user.data = kept.concat([data]);
}

// A stand-in for window.rtdcs. `answerMs`: when the DCS answers (null: never, and the tag then
// gives up at waitMs, as the real tag does); `segments`: what it answers.
function fakeTag({ segments = SEGMENTS, answerMs = 0 } = {}) {
  return {
    version: '1',
    prebidRtd: sinon.spy(function (req, done, o) {
      const waitMs = answerMs === null ? o.waitMs : Math.min(answerMs, o.waitMs);
      setTimeout(function () {
        if (segments.length) {
          const data = { name: o.name || 'rtdcs', segment: segments.map(id => ({ id })) };
          if (o.segtax !== undefined) data.ext = { segtax: o.segtax };
          mergeUserData(req, data);
        }
        done();
      }, waitMs);
    })
  };
}

function providerConfig(params) {
  return { name: 'rtdcs', waitForIt: true, params: params || {} };
}

function requestObj(global) {
  return { adUnits: [], ortb2Fragments: { global: global || {}, bidder: {} } };
}

// Runs getBidRequestData and settles when it calls back; `callback` records the calls.
function run(req, config, callback = sinon.stub()) {
  return new Promise(resolve => {
    rtdcsSubmodule.getBidRequestData(req, function () {
      callback();
      resolve(callback);
    }, config, {});
  });
}

describe('rtdcs RTD submodule', function () {
  let sandbox;

  beforeEach(function () {
    sandbox = sinon.createSandbox();
    sandbox.stub(utils, 'logInfo');
    sandbox.stub(utils, 'logWarn');
    delete window.rtdcs;
  });

  afterEach(function () {
    sandbox.restore();
    delete window.rtdcs;
  });

  it('is named rtdcs', function () {
    expect(rtdcsSubmodule.name).to.equal('rtdcs');
  });

  it('init returns true', function () {
    expect(rtdcsSubmodule.init(providerConfig(), {})).to.equal(true);
  });

  describe('without the tag', function () {
    it('calls back once, at once, and adds nothing', function () {
      const req = requestObj();
      const callback = sinon.stub();
      rtdcsSubmodule.getBidRequestData(req, callback, providerConfig({ name: 'rtdcs', segtax: 4 }), {});
      expect(callback.calledOnce).to.equal(true);
      expect(req.ortb2Fragments.global).to.deep.equal({});
    });

    it('treats a window.rtdcs without prebidRtd() as no tag', function () {
      window.rtdcs = { version: '1' };
      expect(pageTag()).to.equal(null);
      const req = requestObj();
      const callback = sinon.stub();
      rtdcsSubmodule.getBidRequestData(req, callback, providerConfig(), {});
      expect(callback.calledOnce).to.equal(true);
      expect(req.ortb2Fragments.global).to.deep.equal({});
    });
  });

  describe('with the tag', function () {
    it('adds the segments as user.data with name and segtax when the tag answers', async function () {
      const tag = window.rtdcs = fakeTag();
      const req = requestObj();
      const callback = await run(req, providerConfig({ name: 'example-publisher.com', segtax: 4, waitMs: 250 }));
      expect(callback.calledOnce).to.equal(true);
      sinon.assert.calledOnce(tag.prebidRtd);
      const [passedReq, , params] = tag.prebidRtd.firstCall.args;
      expect(passedReq).to.equal(req);
      expect(params).to.deep.equal({ name: 'example-publisher.com', segtax: 4, waitMs: 250 });
      expect(req.ortb2Fragments.global.user.data).to.deep.equal([{
        name: 'example-publisher.com',
        ext: { segtax: 4 },
        segment: [{ id: 's1' }, { id: 's2' }]
      }]);
    });

    it('defaults waitMs to DEFAULT_WAIT_MS and leaves the configured params alone', async function () {
      const tag = window.rtdcs = fakeTag();
      const config = providerConfig({ segtax: 4, waitMs: 'soon' });
      await run(requestObj(), config);
      expect(tag.prebidRtd.firstCall.args[2]).to.deep.equal({ segtax: 4, waitMs: DEFAULT_WAIT_MS });
      expect(config.params).to.deep.equal({ segtax: 4, waitMs: 'soon' });

      const bare = { name: 'rtdcs' };
      await run(requestObj(), bare);
      expect(tag.prebidRtd.secondCall.args[2]).to.deep.equal({ waitMs: DEFAULT_WAIT_MS });
    });

    it('adds nothing when the tag has no segments', async function () {
      window.rtdcs = fakeTag({ segments: [] });
      const req = requestObj({ site: { page: 'https://example.com/' } });
      const callback = await run(req, providerConfig({ segtax: 4 }));
      expect(callback.calledOnce).to.equal(true);
      expect(req.ortb2Fragments.global).to.deep.equal({ site: { page: 'https://example.com/' } });
    });

    it('replaces a stale entry with the same name and keeps the others', async function () {
      window.rtdcs = fakeTag();
      const other = { name: 'other-provider.com', ext: { segtax: 4 }, segment: [{ id: '9' }] };
      const stale = { name: 'rtdcs', ext: { segtax: 4 }, segment: [{ id: 'old' }] };
      const req = requestObj({ user: { keywords: 'k', data: [other, stale] } });
      await run(req, providerConfig({ segtax: 4 }));
      const data = req.ortb2Fragments.global.user.data;
      expect(data).to.have.length(2);
      expect(data[0]).to.equal(other);
      expect(data[1]).to.deep.equal({ name: 'rtdcs', ext: { segtax: 4 }, segment: [{ id: 's1' }, { id: 's2' }] });
      expect(req.ortb2Fragments.global.user.keywords).to.equal('k');
    });

    it('fills a getter-only ortb2Fragments.global in place', async function () {
      window.rtdcs = fakeTag();
      const global = { site: { domain: 'example.com' } };
      const fragments = { bidder: {} };
      Object.defineProperty(fragments, 'global', { get: () => global, enumerable: true });
      const req = { adUnits: [], ortb2Fragments: fragments };
      const callback = await run(req, providerConfig({ segtax: 4 }));
      expect(callback.calledOnce).to.equal(true);
      expect(req.ortb2Fragments).to.equal(fragments);
      expect(req.ortb2Fragments.global).to.equal(global);
      expect(global.site).to.deep.equal({ domain: 'example.com' });
      expect(global.user.data).to.deep.equal([{ name: 'rtdcs', ext: { segtax: 4 }, segment: [{ id: 's1' }, { id: 's2' }] }]);
      expect(utils.logWarn.called).to.equal(false);
    });

    it('calls back exactly once when the tag throws', function () {
      window.rtdcs = { version: '1', prebidRtd: sinon.stub().throws(new Error('boom')) };
      const req = requestObj();
      const callback = sinon.stub();
      rtdcsSubmodule.getBidRequestData(req, callback, providerConfig(), {});
      expect(callback.calledOnce).to.equal(true);
      expect(req.ortb2Fragments.global).to.deep.equal({});
      expect(utils.logWarn.calledOnce).to.equal(true);
    });

    it('calls back exactly once when the tag calls back and then throws', function () {
      window.rtdcs = {
        version: '1',
        prebidRtd: sinon.spy(function (req, done) {
          done();
          throw new Error('after');
        })
      };
      const callback = sinon.stub();
      rtdcsSubmodule.getBidRequestData(requestObj(), callback, providerConfig(), {});
      expect(callback.calledOnce).to.equal(true);
    });

    it('calls back exactly once when the tag calls back twice', function () {
      window.rtdcs = {
        version: '1',
        prebidRtd: function (req, done) {
          done();
          done();
        }
      };
      const callback = sinon.stub();
      rtdcsSubmodule.getBidRequestData(requestObj(), callback, providerConfig(), {});
      expect(callback.calledOnce).to.equal(true);
    });
  });

  describe('waitMs', function () {
    let clock;

    beforeEach(function () {
      clock = sandbox.useFakeTimers();
    });

    it('calls back when the tag answers, before waitMs, and clears its own timer', function () {
      window.rtdcs = fakeTag({ answerMs: 40 });
      const req = requestObj();
      const callback = sinon.stub();
      rtdcsSubmodule.getBidRequestData(req, callback, providerConfig({ waitMs: 200 }), {});
      clock.tick(39);
      expect(callback.called).to.equal(false);
      clock.tick(1);
      expect(callback.calledOnce).to.equal(true);
      expect(req.ortb2Fragments.global.user.data).to.have.length(1);
      clock.tick(10000);
      expect(callback.calledOnce).to.equal(true);
      expect(utils.logWarn.called).to.equal(false);
    });

    it('calls back at waitMs when the DCS never answers (the tag gives up)', function () {
      window.rtdcs = fakeTag({ answerMs: null });
      const callback = sinon.stub();
      rtdcsSubmodule.getBidRequestData(requestObj(), callback, providerConfig({ waitMs: 200 }), {});
      clock.tick(199);
      expect(callback.called).to.equal(false);
      clock.tick(1);
      expect(callback.calledOnce).to.equal(true);
    });

    it('releases the auction at waitMs + GRACE_MS when the tag never calls back', function () {
      let late;
      window.rtdcs = { version: '1', prebidRtd: (req, done) => { late = done; } };
      const req = requestObj();
      const callback = sinon.stub();
      rtdcsSubmodule.getBidRequestData(req, callback, providerConfig({ waitMs: 200 }), {});
      clock.tick(200 + GRACE_MS - 1);
      expect(callback.called).to.equal(false);
      clock.tick(1);
      expect(callback.calledOnce).to.equal(true);
      expect(utils.logWarn.calledOnce).to.equal(true);
      late();
      clock.tick(10000);
      expect(callback.calledOnce).to.equal(true);
      expect(req.ortb2Fragments.global).to.deep.equal({});
    });

    it('uses DEFAULT_WAIT_MS + GRACE_MS when waitMs is not set', function () {
      window.rtdcs = { version: '1', prebidRtd: () => {} };
      const callback = sinon.stub();
      rtdcsSubmodule.getBidRequestData(requestObj(), callback, providerConfig(), {});
      clock.tick(DEFAULT_WAIT_MS + GRACE_MS - 1);
      expect(callback.called).to.equal(false);
      clock.tick(1);
      expect(callback.calledOnce).to.equal(true);
    });
  });
});
