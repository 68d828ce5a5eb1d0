/**
 * Key material that several processes create on first start (the development signing key, the
 * mesh's development CA) when they share DATA_DIR, as the all-in-one's services, a mesh started
 * on one machine or docker-compose's services do.
 */
import { link, rm, writeFile } from "node:fs/promises";

/**
 * Writes the whole file aside, then links it into place: a reader finds no file or the whole
 * file, never a half-written one (a file created with the `wx` flag exists, empty, before its
 * content is written), and of several writers racing exactly one wins. True when this call
 * created the file; false when another had (read theirs).
 */
export async function writeFileOnce(path: string, content: string, mode = 0o600): Promise<boolean> {
  const aside = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  await writeFile(aside, content, { mode });
  try {
    await link(aside, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    return false;
  } finally {
    await rm(aside, { force: true });
  }
}
