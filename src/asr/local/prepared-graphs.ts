/**
 * Where the graphs rewritten for LOCAL_MATMUL_ACCURACY (matmul-accuracy.ts) are written so that
 * onnxruntime loads them with the export's weights: beside those, or in a copied folder.
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checkLevel, type MatMulAccuracy, setMatMulAccuracy } from './matmul-accuracy.js';

export interface PreparedGraphs {
  /** Each graph file's name (`<graph><suffix>.onnx`) → the rewritten graph to load instead. */
  readonly files: ReadonlyMap<string, string>;
  /** MatMulNBits nodes set, over all the graphs. */
  readonly nodes: number;
  /** External-data files this call copied (when it could not write beside the source's). */
  readonly copied: readonly string[];
}

/**
 * Rewrites the graphs `onnx/<graph><suffix>.onnx` of the model folder `source` with every
 * MatMulNBits at accuracy `level`, where onnxruntime will load their external data (the weights,
 * GBs) from. onnxruntime 1.30 reads a graph's external data only from a regular file in the graph's
 * own folder that is neither a symbolic link nor one of several hard links, so a rewritten graph
 * must lie beside the weights: it is written there as `<graph><suffix>.acc<level>.onnx` (a few MB;
 * rewritten only when it differs). Where the source folder cannot be written (a read-only
 * LOCAL_MODEL_PATH), or with `beside: false`, the graphs and copies of their external-data files go
 * into `root/<name>` instead, once (copy-on-write clones where the filesystem has them): the name
 * hashes the source path, the level, and each file's size, time and inode, so a changed model gets
 * a new folder and the old one is removed. Several model workers may prepare at once.
 */
export async function prepareMatMulAccuracy(options: {
  readonly source: string;
  readonly graphs: readonly string[];
  readonly suffix: string;
  readonly level: MatMulAccuracy;
  /** Where copies go when the source cannot be written. */
  readonly root: string;
  /** Write beside the source's graphs (default); false: copy into `root` at once. */
  readonly beside?: boolean;
}): Promise<PreparedGraphs> {
  checkLevel(options.level);
  const source = await realpath(options.source);
  const onnxDir = join(source, 'onnx');
  const entries = (await readdir(onnxDir)).sort();
  const graphFiles = options.graphs.map((g) => `${g}${options.suffix}.onnx`);
  for (const file of graphFiles) {
    if (!entries.includes(file)) throw new Error(`${join(onnxDir, file)}: no such graph`);
  }
  const unique = `${process.pid}-${Math.random().toString(36).slice(2)}`;
  const rewrite = async (file: string) =>
    setMatMulAccuracy(new Uint8Array(await readFile(join(onnxDir, file))), options.level);

  if (options.beside !== false) {
    const files = new Map<string, string>();
    let nodes = 0;
    try {
      for (const file of graphFiles) {
        const rewritten = await rewrite(file);
        nodes += rewritten.nodes;
        const target = join(onnxDir, `${file.slice(0, -'.onnx'.length)}.acc${options.level}.onnx`);
        if (!(await sameBytes(target, rewritten.bytes))) {
          const partial = `${target}.${unique}`;
          try {
            await writeFile(partial, rewritten.bytes);
            await rename(partial, target);
          } catch (err) {
            // A full disk must not leave a graph-sized stray beside the weights.
            await rm(partial, { force: true });
            throw err;
          }
        }
        files.set(file, target);
      }
      return { files, nodes, copied: [] };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EACCES' && code !== 'EROFS' && code !== 'EPERM') throw err;
      // A read-only model folder: copies, below.
    }
  }

  const dataOf = (file: string) =>
    entries.filter((e) => e === `${file}_data` || e.startsWith(`${file}_data_`));
  const dataFiles = graphFiles.flatMap(dataOf);
  const id = `${source}\0${options.level}\0${options.suffix}`;
  const hash = createHash('sha256').update(id);
  for (const file of [...graphFiles, ...dataFiles]) {
    const s = await stat(join(onnxDir, file));
    hash.update(`\0${file}\0${s.size}\0${s.mtimeMs}\0${s.ino}`);
  }
  const key = createHash('sha256').update(id).digest('hex').slice(0, 12);
  const name = `acc${options.level}-${key}-${hash.digest('hex').slice(0, 12)}`;
  const folder = join(options.root, name);
  const files = new Map(graphFiles.map((file) => [file, join(folder, file)]));
  if (await exists(join(folder, COMPLETE))) {
    const nodes = Number(await readFile(join(folder, COMPLETE), 'utf8')) || 0;
    return { files, nodes, copied: [] };
  }
  await mkdir(options.root, { recursive: true });
  const tmp = join(options.root, `.tmp-${name}-${unique}`);
  let nodes = 0;
  try {
    await mkdir(tmp, { recursive: true });
    for (const file of graphFiles) {
      const rewritten = await rewrite(file);
      nodes += rewritten.nodes;
      await writeFile(join(tmp, file), rewritten.bytes);
    }
    for (const file of dataFiles) {
      await copyFile(join(onnxDir, file), join(tmp, file), constants.COPYFILE_FICLONE);
    }
    await writeFile(join(tmp, COMPLETE), String(nodes));
    try {
      await rename(tmp, folder);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
      // Another worker finished first: use its folder.
      await rm(tmp, { recursive: true, force: true });
      return { files, nodes, copied: [] };
    }
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  // Older copies for this source and level (a model since changed): remove them.
  for (const entry of await readdir(options.root)) {
    if (entry !== name && entry.startsWith(`acc${options.level}-${key}-`)) {
      await rm(join(options.root, entry), { recursive: true, force: true });
    }
  }
  return { files, nodes, copied: dataFiles };
}

/** Written last into a folder of copies: the MatMulNBits count. */
const COMPLETE = '.complete';

async function sameBytes(path: string, bytes: Uint8Array): Promise<boolean> {
  try {
    return Buffer.from(bytes).equals(await readFile(path));
  } catch {
    return false;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
