// The recording indicator's words (signalling/client/recording-state.js): "● REC" only when the node says a
// recorder is live, "Recording starting…" while recording is on without one, "Recording could not start" (and the
// host told why) when placement refused.
import { test } from "node:test";
import assert from "node:assert/strict";
import { indicator, refusalNotice } from "../../signalling/client/recording-state.js";

const node = (state, extra = {}) => ({ policy: "allowed", held: false, active: state !== "off", recorders: [], state, ...extra });

test("each state of the node has its own words; REC only when live", () => {
  assert.equal(indicator(node("off"), "allowed").text, "● may be recorded");
  assert.equal(indicator(node("starting"), "allowed").text, "Recording starting…");
  assert.equal(indicator(node("live", { recorders: ["rec-1"] }), "allowed").text, "● REC");
  assert.equal(indicator(node("refused"), "allowed").text, "Recording could not start");
  assert.equal(indicator(node("starting"), "allowed").live, false);
});

test("a host's start with no recorder in yet is not '● REC' (active alone is not live)", () => {
  const r = indicator({ ...node("starting"), active: true }, "allowed");
  assert.notEqual(r.text, "● REC");
});

test("hidden where recording is off; before the node spoke, required says starting, never REC", () => {
  assert.equal(indicator(null, "off"), null);
  assert.equal(indicator({ policy: "off", state: "off" }, "allowed"), null);
  assert.equal(indicator(null, "required").text, "Recording starting…");
  assert.equal(indicator(null, "allowed").text, "● may be recorded");
});

test("an unknown state string is not trusted as a state", () => {
  assert.equal(indicator(node("__proto__", { active: false }), "allowed").text, "● may be recorded");
  assert.equal(indicator(node("hacked", { active: false }), "allowed").text, "● may be recorded");
});

test("only the host is told why recording could not start", () => {
  const r = node("refused", { reason: "no_recorder_in_allowed_regions", message: "Recording cannot start: no recorder is available in a region this organisation allows." });
  assert.match(refusalNotice(r, true), /no recorder is available in a region this organisation allows/);
  assert.equal(refusalNotice(r, false), null);
  assert.equal(refusalNotice(node("starting"), true), null);
  assert.match(refusalNotice(node("refused", { reason: "tenant_not_found" }), true), /tenant_not_found/);
});
