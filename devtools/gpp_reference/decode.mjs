#!/usr/bin/env node
// Reference decodes of GPP strings for rtdcs' own GPP decoder tests (issue 14).
//
// For every entry of inputs.json this script
//   1. gets the GPP string (given verbatim, or built with @iabgpp/cmpapi's own encoder, or derived
//      from another entry by the mechanical mutation the entry lists),
//   2. decodes it with IAB's reference decoder (@iabgpp/cmpapi GppModel) and records every section
//      and every field value as the decoder exposes them (or the error it throws),
//   3. runs Prebid.js' own MSPA activity-control code (prebid.js from npm: gppControl_usnat,
//      gppControl_usstates, libraries/mspa/activityControls, consentManagementGpp with a static
//      CMP) and records whether `transmitUfpd` and `syncUser` are allowed, for several gpp_sid values.
//
// Usage (from this directory):
//   npm ci --ignore-scripts
//   node decode.mjs                      # writes ../../tests/fixtures/gpp/reference_decodes.json
//   node decode.mjs --check              # exits 1 if that file is not what this run produces
//   node decode.mjs --inputs X --out Y   # other files
// Nothing here is imported by rtdcs; CI reads only the JSON it writes.

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { JSDOM } from 'jsdom';
import { AbstractLazilyEncodableSegment, GppModel, HeaderV1, PingData, Sections } from '@iabgpp/cmpapi';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

// ---------------------------------------------------------------- arguments
const argv = process.argv.slice(2);
function opt(name, dflt) {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : dflt;
}
const INPUTS = path.resolve(opt('--inputs', path.join(HERE, 'inputs.json')));
const OUT = path.resolve(opt('--out', path.join(HERE, '..', '..', 'tests', 'fixtures', 'gpp', 'reference_decodes.json')));
const CHECK = argv.includes('--check');

// ---------------------------------------------------------------- versions
function pkgVersion(dir) {
  return JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).version;
}
const CMPAPI_DIR = path.dirname(path.dirname(path.dirname(require.resolve('@iabgpp/cmpapi'))));
// prebid.js' exports map hides its package.json and dist/src/src/*: find the package from its main file.
const PREBID_MAIN = require.resolve('prebid.js');
const PREBID_DIR = PREBID_MAIN.slice(0, PREBID_MAIN.lastIndexOf(`${path.sep}dist${path.sep}`));
const JSDOM_DIR = path.dirname(path.dirname(require.resolve('jsdom')));
const VERSIONS = {
  '@iabgpp/cmpapi': pkgVersion(CMPAPI_DIR),
  'prebid.js': pkgVersion(PREBID_DIR),
  jsdom: pkgVersion(JSDOM_DIR),
};
const PINNED = JSON.parse(fs.readFileSync(path.join(HERE, 'package.json'), 'utf8')).dependencies;
for (const [name, v] of Object.entries(VERSIONS)) {
  if (PINNED[name] !== v) throw new Error(`${name} ${v} installed, package.json pins ${PINNED[name]}: run npm ci`);
}

// ---------------------------------------------------------------- a browser-ish global for Prebid
// Prebid's modules read window/document at import time; jsdom provides them. No network is used.
const dom = new JSDOM('<!doctype html><html><head></head><body></body></html>', { url: 'https://rtdcs.invalid/' });
dom.window.fetch = () => Promise.reject(new Error('network disabled in decode.mjs'));
for (const k of ['Request', 'Response', 'Headers', 'AbortController', 'TextEncoder', 'TextDecoder']) {
  if (!dom.window[k]) dom.window[k] = globalThis[k];
}
for (const k of ['window', 'document', 'navigator', 'location', 'localStorage', 'sessionStorage', 'HTMLElement',
  'Node', 'Element', 'CustomEvent', 'Event', 'MutationObserver', 'XMLHttpRequest', 'DOMParser', 'screen',
  'top', 'self', 'parent']) {
  Object.defineProperty(globalThis, k, { value: k === 'window' ? dom.window : dom.window[k], configurable: true, writable: true });
}
// Prebid logs through console; keep stdout for our own report.
const quiet = () => {};
console.info = quiet; console.debug = quiet; console.log = quiet; console.warn = quiet;
const say = (...a) => process.stdout.write(a.join(' ') + '\n');

const pb = (rel) => import(pathToFileURL(path.join(PREBID_DIR, 'dist', 'src', rel)).href);
const { config } = await pb('src/config.js');
const { gppDataHandler, activityParams } = await pb('src/adapterManager.js');
const { isActivityAllowed, ruleRegistry } = await pb('src/activities/rules.js');
const { ACTIVITY_TRANSMIT_UFPD, ACTIVITY_SYNC_USER } = await pb('src/activities/activities.js');
const { MODULE_TYPE_BIDDER } = await pb('src/activities/modules.js');
const { ACTIVITY_PARAM_SYNC_TYPE, ACTIVITY_PARAM_SYNC_URL } = await pb('src/activities/params.js');
const { setupRules, getRules } = await pb('libraries/mspa/activityControls.js');
const { toConsentData } = await pb('modules/consentManagementGpp.js');
await pb('modules/gppControl_usnat.js');
const { getSections } = await pb('modules/gppControl_usstates.js');
// what pbjs.processQueue() does once the page has loaded Prebid: hooks (e.g. buildActivityParams) start running
(await pb('src/hook.js')).hook.ready();

const ACTIVITIES = [ACTIVITY_TRANSMIT_UFPD, ACTIVITY_SYNC_USER];
const BIDDER = 'referenceBidder';
// the parameters Prebid itself passes: adapters' requests (transmitUfpd) and userSync.registerSync (syncUser)
const paramsFor = (activity) => (activity === ACTIVITY_SYNC_USER
  ? activityParams(MODULE_TYPE_BIDDER, BIDDER, { [ACTIVITY_PARAM_SYNC_TYPE]: 'image', [ACTIVITY_PARAM_SYNC_URL]: 'https://sync.invalid/px' })
  : activityParams(MODULE_TYPE_BIDDER, BIDDER));

// ---------------------------------------------------------------- building the input strings
const NAME_TO_ID = new Map([...Sections.SECTION_ID_NAME_MAP.entries()].map(([id, name]) => [name, id]));

function encodeHeader(ids) {
  const header = new HeaderV1();
  header.setFieldValue('SectionIds', ids);
  return header.encode();
}

function buildString(build) {
  if (build.sections) {
    // section strings verbatim; only the header comes from the library's encoder
    const ids = build.header_ids ?? build.sections.map(([name]) => {
      if (!NAME_TO_ID.has(name)) throw new Error(`unknown section name ${name}`);
      return NAME_TO_ID.get(name);
    });
    return [encodeHeader(ids), ...build.sections.map(([, s]) => s)].join('~');
  }
  if (build.fields) {
    const model = new GppModel();
    for (const [section, fields] of Object.entries(build.fields)) {
      for (const [field, value] of Object.entries(fields)) model.setFieldValue(section, field, value);
    }
    return model.encode();
  }
  throw new Error('build needs sections or fields');
}

function mutate(s, op) {
  switch (op.op) {
    case 'replace':
      if (!s.includes(op.old)) throw new Error(`replace: '${op.old}' not in '${s}'`);
      return s.replace(op.old, op.new);
    case 'append': return s + op.text;
    case 'truncate': return s.slice(0, op.length);
    case 'swap_sections': {
      const parts = s.split('~');
      [parts[op.a], parts[op.b]] = [parts[op.b], parts[op.a]];
      return parts.join('~');
    }
    default: throw new Error(`unknown op ${op.op}`);
  }
}

function resolveInputs(entries) {
  const byId = new Map();
  for (const e of entries) {
    let gpp;
    if (typeof e.gpp === 'string') gpp = e.gpp;
    else if (e.build) gpp = buildString(e.build);
    else if (e.derive) {
      const base = byId.get(e.derive.from);
      if (base == null) throw new Error(`${e.id}: derive.from ${e.derive.from} must come earlier`);
      gpp = e.derive.ops.reduce(mutate, base);
    } else throw new Error(`${e.id}: needs gpp, build or derive`);
    if (byId.has(e.id)) throw new Error(`duplicate id ${e.id}`);
    byId.set(e.id, gpp);
  }
  return byId;
}

// ---------------------------------------------------------------- reference decode
function plain(v) {
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

function errorOf(e) {
  return { type: e?.constructor?.name ?? typeof e, message: String(e?.message ?? e) };
}

const storedValue = AbstractLazilyEncodableSegment.prototype.getFieldValue;

function segmentsOf(section) {
  // Every field each segment holds, including ones toObj() leaves out (e.g. GpcSegmentIncluded), as
  // stored by the decoder: the base-class getter, without a segment's own getter adjustments (in
  // 3.2.0 only UsNatCoreSegment has one: Version 1 cuts SensitiveDataProcessing to 12 values and
  // KnownChildSensitiveDataConsents to 2, whatever the payload's length).
  if (!Array.isArray(section.segments)) return null;
  return section.segments.map((seg) => {
    const names = seg.fields?.getAll ? [...seg.fields.getAll().keys()] : seg.getFieldNames();
    const get = seg instanceof AbstractLazilyEncodableSegment ? (n) => storedValue.call(seg, n) : (n) => seg.getFieldValue(n);
    return { segment: seg.constructor.name, fields: Object.fromEntries(names.map((n) => [n, plain(get(n))])) };
  });
}

function decode(gpp) {
  const out = { valid: false, error: null, error_stage: null, header: null, section_ids: null, skipped_section_ids: [], sections: [] };
  const parts = gpp.split('~');
  if (gpp.startsWith('DB')) {
    // only where GppModel itself decodes a header (it requires the 'DB' prefix)
    try {
      out.header = plain(new HeaderV1(parts[0]).toObj());
    } catch (e) {
      out.header = null;
    }
  }
  let model;
  let stage = 'structure';
  try {
    model = new GppModel(gpp); // lazy: nothing is decoded yet
    out.section_ids = model.getSectionIds(); // header, split into sections, section objects; throws on a count mismatch
    stage = 'fields';
    model.toObject(); // decodes every field of every section
    const headerIds = out.header?.SectionIds ?? out.section_ids;
    headerIds.forEach((id, i) => {
      const name = Sections.SECTION_ID_NAME_MAP.get(id);
      if (name == null) { out.skipped_section_ids.push(id); return; }
      const section = model.sections.get(name);
      out.sections.push({
        id,
        name,
        encoded: gpp.startsWith('DB') ? parts[i + 1] : gpp,
        fields: plain(section.toObj()),
        segments: segmentsOf(section),
      });
    });
    out.valid = true;
  } catch (e) {
    out.error = errorOf(e);
    out.error_stage = stage;
    out.section_ids = stage === 'structure' ? null : out.section_ids;
    out.sections = [];
    model = null;
  }
  return { out, model };
}

// ---------------------------------------------------------------- Prebid decisions
const PREBID_CONTROLS = [
  // what gppControl_usnat.js sets up ...
  ['usnat', [7], (c) => c],
  // ... and what gppControl_usstates.js sets up with its default configuration
  ...getSections({}),
];

function pingDataFor(model, applicableSections) {
  // exactly what the reference CMP answers to __gpp('ping')
  return {
    ...new PingData({
      gppVersion: '1.1', cmpStatus: 'loaded', cmpDisplayStatus: 'hidden', signalStatus: 'ready',
      supportedAPIs: [...NAME_TO_ID.entries()].map(([n, id]) => `${id}:${n}`), cmpId: 0,
      gppModel: model, applicableSections,
    }),
  };
}

async function throughPrebid(pingData) {
  // the publisher-facing path: static CMP config -> consentManagementGpp -> gppDataHandler ->
  // rules registered by gppControl_usnat / gppControl_usstates -> isActivityAllowed
  gppDataHandler.reset();
  config.setConfig({ consentManagement: { gpp: { cmpApi: 'static', consentData: pingData } } });
  for (let i = 0; i < 20; i++) {
    const cd = gppDataHandler.getConsentData();
    if (cd && cd.gppString === pingData.gppString && JSON.stringify(cd.applicableSections) === JSON.stringify(pingData.applicableSections)) break;
    await new Promise((r) => setTimeout(r, 0));
  }
  const cd = gppDataHandler.getConsentData();
  if (!cd || JSON.stringify(cd.applicableSections) !== JSON.stringify(pingData.applicableSections)) {
    throw new Error('Prebid did not take the static GPP consent data');
  }
  return Object.fromEntries(ACTIVITIES.map((a) => [a, isActivityAllowed(a, paramsFor(a))]));
}

function ruleByRule(pingData) {
  // the same rule code, registered into a private registry so that each rule's answer can be recorded
  const consentData = toConsentData(structuredClone(pingData));
  const [register, allowed] = ruleRegistry({ logInfo: quiet, logWarn: quiet, logError: quiet });
  const registered = [];
  const registerRule = (activity, name, rule) => { registered.push({ activity, name, rule }); return register(activity, name, rule); };
  const evaluated = {};
  for (const [api, sids, normalize] of PREBID_CONTROLS) {
    setupRules(api, sids, getRules(undefined), normalize, registerRule, () => consentData);
    const section = consentData.parsedSections[api];
    if (section != null && consentData.applicableSections.some((s) => sids.includes(s))) {
      evaluated[api] = plain(normalize(structuredClone(section)));
    }
  }
  const result = {};
  for (const activity of ACTIVITIES) {
    const params = paramsFor(activity);
    const rules = [];
    for (const { name, rule } of registered.filter((r) => r.activity === activity)) {
      let r;
      try {
        r = rule(params);
      } catch (e) {
        // as ruleRegistry's runRule does: a rule that throws denies (e.g. a state normalizer given no section)
        r = { allow: false, reason: `exception in rule: ${e?.message ?? e}` };
      }
      if (r != null) rules.push({ rule: name, allow: r.allow, reason: r.reason == null ? null : String(r.reason) });
    }
    result[activity] = { allowed: allowed(activity, params), rules };
  }
  return { result, evaluated };
}

function sidKey(sids) { return sids.join(','); }

async function prebidFor(entry, model, header) {
  const headerIds = header?.SectionIds ?? model.getSectionIds();
  const variants = [headerIds, ...headerIds.filter(() => headerIds.length > 1).map((id) => [id]), ...(entry.extra_gpp_sid ?? [])];
  const byGppSid = {};
  for (const sids of variants) {
    const key = sidKey(sids);
    if (key in byGppSid) continue;
    const pingData = pingDataFor(model, sids);
    const viaConfig = await throughPrebid(pingData);
    const { result, evaluated } = ruleByRule(pingData);
    for (const a of ACTIVITIES) {
      if (viaConfig[a] !== result[a].allowed) throw new Error(`${entry.id} [${key}]: ${a} differs between the two Prebid paths: ${JSON.stringify(viaConfig)} vs ${JSON.stringify(result)}`);
    }
    byGppSid[key] = {
      applicable_sections: sids,
      transmitUfpd: result[ACTIVITY_TRANSMIT_UFPD],
      syncUser: result[ACTIVITY_SYNC_USER],
      evaluated_consent: evaluated,
    };
  }
  return byGppSid;
}

// ---------------------------------------------------------------- main
const spec = JSON.parse(fs.readFileSync(INPUTS, 'utf8'));
const strings = resolveInputs(spec.inputs);
const results = [];
for (const entry of spec.inputs) {
  const gpp = strings.get(entry.id);
  if (process.env.GPP_DEBUG) process.stderr.write(`${entry.id}\n`);
  const { out, model } = decode(gpp);
  const rec = {
    id: entry.id,
    kind: entry.kind,
    gpp,
    origin: entry.origin,
    ...(entry.sources ? { sources: entry.sources } : {}),
    ...(entry.build ? { build: entry.build } : {}),
    ...(entry.derive ? { derive: entry.derive } : {}),
    ...(entry.note ? { note: entry.note } : {}),
    ...out,
    prebid: out.valid ? await prebidFor(entry, model, out.header) : null,
  };
  results.push(rec);
}
const doc = {
  description: 'GPP strings decoded by IAB\'s reference decoder, with Prebid.js MSPA decisions. Generated by devtools/gpp_reference/decode.mjs; do not edit by hand.',
  versions: VERSIONS,
  prebid: {
    package: `prebid.js@${VERSIONS['prebid.js']} (npm, dist/src build)`,
    controls: PREBID_CONTROLS.map(([api, sids]) => ({ api, sids })),
    activities: ACTIVITIES,
    setup: "config consentManagement.gpp = {cmpApi: 'static', consentData: <PingData of @iabgpp/cmpapi>}, modules consentManagementGpp, gppControl_usnat, gppControl_usstates (default mspa config)",
  },
  input_source_commits: spec.source_commits,
  count: results.length,
  results,
};
const text = JSON.stringify(doc, null, 1) + '\n';
if (CHECK) {
  const current = fs.existsSync(OUT) ? fs.readFileSync(OUT, 'utf8') : '';
  if (current !== text) { say(`${OUT} is out of date`); process.exit(1); }
  say(`${OUT} is up to date (${results.length} strings)`);
} else {
  fs.mkdirSync(path.dirname(OUT), { recursive: true });
  fs.writeFileSync(OUT, text);
  const valid = results.filter((r) => r.valid).length;
  say(`wrote ${OUT}: ${results.length} strings, ${valid} valid, ${results.length - valid} rejected by the reference decoder`);
}
process.exit(0);
