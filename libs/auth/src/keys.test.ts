/**
 * Development keys under DATA_DIR: processes starting at once on one folder (the mesh, docker
 * compose) all end up with the one key pair, and none reads the file half-written.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, describe, it } from "node:test";
import { loadKeyMaterial } from "./keys.js";
import { writeFileOnce } from "./write-once.js";

describe("development keys", () => {
  const folders: string[] = [];
  const folder = async () => {
    const dir = await mkdtemp(join(tmpdir(), "weelo-keys-"));
    folders.push(dir);
    return dir;
  };
  after(async () => {
    for (const dir of folders) await rm(dir, { recursive: true, force: true });
  });

  it("gives every one of many concurrent first starts the same pair, and leaves one file", async () => {
    for (let round = 0; round < 5; round++) {
      const DATA_DIR = await folder();
      const loaded = await Promise.all(
        Array.from({ length: 24 }, () => loadKeyMaterial({ DATA_DIR, NODE_ENV: "development" })),
      );
      assert.equal(new Set(loaded.map((k) => k.keyId)).size, 1, "one key id");
      assert.equal(new Set(loaded.map((k) => JSON.stringify(k.jwks))).size, 1, "one public key");
      assert.ok(loaded.every((k) => k.privateKey));
      assert.deepEqual(await readdir(join(DATA_DIR, "keys")), ["jwt-dev-key.json"], "nothing left aside");
    }
  });

  it("gives processes starting at the same instant on one folder the same pair (the mesh, docker compose)", async () => {
    // Seen: a mesh of nine processes on one DATA_DIR, one of them failing at start with
    // "Unexpected end of JSON input": it read the key file after another process had created it
    // (the `wx` flag) and before that one had written it.
    const dirs = await Promise.all(Array.from({ length: 20 }, () => folder()));
    const startAt = Date.now() + 4000; // after every process's start-up
    const child = fileURLToPath(new URL("./keys.race.child.ts", import.meta.url));
    const outputs = await Promise.all(
      Array.from(
        { length: 6 },
        () =>
          new Promise<string[]>((resolve, reject) =>
            execFile(
              process.execPath,
              ["--import", "tsx", child, String(startAt), ...dirs],
              { timeout: 60_000 },
              (error, stdout, stderr) =>
                error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(JSON.parse(stdout)),
            ),
          ),
      ),
    );
    for (const [i, dir] of dirs.entries()) {
      const ids = outputs.map((ids) => ids[i]!);
      assert.ok(
        ids.every((id) => !id.startsWith("error")),
        `${dir}: ${ids.find((id) => id.startsWith("error"))}`,
      );
      assert.equal(new Set(ids).size, 1, `${dir}: every process has the same key`);
    }
  });

  it("keeps the pair across restarts", async () => {
    const DATA_DIR = await folder();
    const first = await loadKeyMaterial({ DATA_DIR, NODE_ENV: "development" });
    const again = await loadKeyMaterial({ DATA_DIR, NODE_ENV: "development" });
    assert.equal(again.keyId, first.keyId);
    assert.deepEqual(again.jwks, first.jwks);
  });

  it("names a damaged key file and how to mend it", async () => {
    const DATA_DIR = await folder();
    await mkdir(join(DATA_DIR, "keys"));
    await writeFile(join(DATA_DIR, "keys", "jwt-dev-key.json"), '{"keyId":');
    await assert.rejects(
      loadKeyMaterial({ DATA_DIR, NODE_ENV: "development" }),
      /jwt-dev-key\.json is not valid JSON: delete it/,
    );
  });

  it("refuses to make keys in production", async () => {
    await assert.rejects(loadKeyMaterial({ DATA_DIR: await folder(), NODE_ENV: "production" }), /JWT_PUBLIC_JWKS/);
  });

  it("writeFileOnce: one of many racing writers wins, and the file holds its whole content", async () => {
    const path = join(await folder(), "once.txt");
    const contents = Array.from({ length: 16 }, (_, i) => `writer ${i} `.repeat(20_000));
    const won = await Promise.all(contents.map((content) => writeFileOnce(path, content)));
    assert.equal(won.filter(Boolean).length, 1);
    assert.equal(await readFile(path, "utf8"), contents[won.indexOf(true)]);
  });
});
