import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isInlineImage, safeUrl } from "./safe-url.ts";

describe(safeUrl.name, () => {
  it("passes web URLs and inline images", () => {
    assert.equal(safeUrl("https://example.com/cat.png"), "https://example.com/cat.png");
    assert.equal(safeUrl("http://example.com/a b"), "http://example.com/a%20b");
    assert.equal(safeUrl("HTTPS://Example.com/x"), "https://example.com/x");
    const png = "data:image/png;base64,iVBORw0KGgo=";
    assert.equal(safeUrl(png), png);
    assert.equal(safeUrl("data:image/svg+xml,%3Csvg/%3E"), "data:image/svg+xml,%3Csvg/%3E");
    assert.ok(isInlineImage(safeUrl(png) as string));
    assert.ok(!isInlineImage(safeUrl("https://example.com/cat.png") as string));
  });

  it("refuses script, other schemes, other data and anything that is not an absolute URL", () => {
    for (const bad of [
      "javascript:alert(1)",
      "JavaScript:alert(1)",
      " javascript:alert(1)",
      "java\tscript:alert(1)",
      "java\nscript:alert(1)",
      "\u0001javascript:alert(1)",
      "vbscript:msgbox(1)",
      "data:text/html,<script>alert(1)</script>",
      "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
      "data:,image/png",
      "data:application/octet-stream;base64,AAAA",
      "file:///etc/passwd",
      "blob:https://example.com/uuid",
      "about:blank",
      "//evil.example/x.png",
      "/api/calls",
      "cat.png",
      "",
      "http://",
    ]) {
      assert.equal(safeUrl(bad), null, JSON.stringify(bad));
    }
    for (const notText of [undefined, null, 42, { url: "https://x" }, ["https://x"]]) {
      assert.equal(safeUrl(notText), null, JSON.stringify(notText));
    }
  });
});
