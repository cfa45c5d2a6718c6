import { readFile } from 'node:fs/promises';
import { inflateRawSync } from 'node:zlib';

const END_OF_CENTRAL_DIRECTORY = 0x06054b50;
const CENTRAL_FILE_HEADER = 0x02014b50;
const LOCAL_FILE_HEADER = 0x04034b50;
const STORED = 0;
const DEFLATED = 8;

/**
 * One file's bytes out of a zip archive: enough of the format (no zip64, stored or deflated
 * entries) for the archives the test harness unpacks, with Node alone, so a fresh machine
 * needs neither `unzip` nor Python.
 */
export async function readZipEntry(archive: string, name: string): Promise<Buffer> {
  const zip = await readFile(archive);
  // The end record sits in the last 22 bytes plus up to 64 KiB of comment.
  let end = -1;
  for (let at = zip.length - 22; at >= Math.max(0, zip.length - 22 - 0xffff); at--) {
    if (zip.readUInt32LE(at) === END_OF_CENTRAL_DIRECTORY) {
      end = at;
      break;
    }
  }
  if (end < 0) throw new Error(`${archive}: not a zip archive (no end of central directory)`);
  const entries = zip.readUInt16LE(end + 10);
  let at = zip.readUInt32LE(end + 16);
  for (let i = 0; i < entries; i++) {
    if (zip.readUInt32LE(at) !== CENTRAL_FILE_HEADER) throw new Error(`${archive}: bad central directory`);
    const method = zip.readUInt16LE(at + 10);
    const compressedSize = zip.readUInt32LE(at + 20);
    const size = zip.readUInt32LE(at + 24);
    const nameLength = zip.readUInt16LE(at + 28);
    const extraLength = zip.readUInt16LE(at + 30);
    const commentLength = zip.readUInt16LE(at + 32);
    const localHeader = zip.readUInt32LE(at + 42);
    const entryName = zip.toString('utf8', at + 46, at + 46 + nameLength);
    at += 46 + nameLength + extraLength + commentLength;
    if (entryName !== name) continue;
    if (compressedSize === 0xffffffff || localHeader === 0xffffffff)
      throw new Error(`${archive}: ${name} is a zip64 entry, which this reader does not handle`);
    if (zip.readUInt32LE(localHeader) !== LOCAL_FILE_HEADER) throw new Error(`${archive}: bad local header`);
    const dataStart =
      localHeader + 30 + zip.readUInt16LE(localHeader + 26) + zip.readUInt16LE(localHeader + 28);
    const data = zip.subarray(dataStart, dataStart + compressedSize);
    const bytes =
      method === STORED ? Buffer.from(data) : method === DEFLATED ? inflateRawSync(data) : undefined;
    if (bytes === undefined) throw new Error(`${archive}: ${name} uses compression method ${method}`);
    if (bytes.length !== size)
      throw new Error(`${archive}: ${name} unpacked to ${bytes.length} of ${size} bytes`);
    return bytes;
  }
  throw new Error(`${archive} has no entry ${name}`);
}
