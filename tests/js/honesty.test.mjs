// The suite hides nothing: no test is skipped or left as `todo` (a known defect must fail, or
// be fixed), and a required runtime that is missing fails its tests instead of skipping them.
// This file reads the other test files; it fails on any skip or todo marker it finds.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));
const dirs = ["tests/js", "tests/js/lib", "tests/runtimes"];
const files = dirs.flatMap((d) =>
  readdirSync(join(root, d))
    .filter((f) => f.endsWith(".mjs") && f !== "honesty.test.mjs")
    .map((f) => join(d, f)),
);

/** The skip and todo markers of node:test: options, context methods, test modifiers. */
const MARKERS = /\{\s*(skip|todo)\s*:|\b(t|test|it|describe|suite)\.(skip|todo)\s*\(|\b(skip|todo)\s*:\s*(true|["'`])/;

test("no test is skipped or left as todo", () => {
  assert.ok(files.length > 20, `only ${files.length} files read`);
  const found = [];
  for (const f of files) {
    readFileSync(join(root, f), "utf8")
      .split("\n")
      .forEach((line, i) => {
        if (MARKERS.test(line) && !/^\s*(\/\/|\*)/.test(line)) found.push(`${f}:${i + 1}: ${line.trim()}`);
      });
  }
  assert.deepEqual(found, [], "a skip or todo hides a test: make it pass, or make it fail");
});

test("the check itself catches each marker", () => {
  for (const line of [
    'test("x", { todo: "later" }, () => {});',
    'test("x", { skip: true }, () => {});',
    "t.skip(reason);",
    "test.todo('x');",
    "describe.skip('x', () => {});",
  ]) {
    assert.ok(MARKERS.test(line), line);
  }
  assert.ok(!MARKERS.test('const skipped = "no";'));
});
