import { readFile, readdir } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { type FunctionResource, formatFieldErrors, functionKey, validateFunction } from '@nimbus/api';
import { parseAllDocuments } from 'yaml';

/** A Function read from a file, with where it came from. */
export interface LoadedFunction {
  resource: FunctionResource;
  /** The YAML file, absolute. */
  file: string;
  /** The YAML file's folder, which `source.path` is relative to. */
  baseDir: string;
}

/** A problem in a file, naming the file and (where it can) the document and field. */
export interface FileProblem {
  /** The files it concerns, absolute. */
  files: string[];
  /** Where, as a user reads it: `examples/hello.yaml (document 2)`. */
  where: string;
  message: string;
}

export interface FolderContents {
  functions: LoadedFunction[];
  problems: FileProblem[];
}

const YAML_FILE = /\.ya?ml$/;

/** Parses one file's text; pure, so the naming of errors is tested without a disk. */
export function parseFunctionFile(file: string, text: string, label = file): FolderContents {
  const functions: LoadedFunction[] = [];
  const problems: FileProblem[] = [];
  const documents = parseAllDocuments(text, { prettyErrors: true });
  if (!Array.isArray(documents)) {
    return { functions, problems: [{ files: [file], where: label, message: 'not a YAML stream' }] };
  }
  for (const [index, document] of documents.entries()) {
    const where = documents.length > 1 ? `${label} (document ${index + 1})` : label;
    if (document.errors.length > 0) {
      const first = document.errors[0];
      problems.push({
        files: [file],
        where,
        message: `YAML: ${first?.message.split('\n')[0] ?? 'cannot parse'}`,
      });
      continue;
    }
    const value: unknown = document.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) continue; // an empty document, e.g. after a trailing ---
    const result = validateFunction(value);
    if (!result.ok) {
      problems.push({ files: [file], where, message: formatFieldErrors(result.errors) });
      continue;
    }
    functions.push({ resource: result.value, file, baseDir: dirname(file) });
  }
  return { functions, problems };
}

/**
 * Reads every `*.yaml`/`*.yml` file directly in `dir`. A bad file is reported and skipped,
 * never fatal, so one typo does not take the other functions down. Two files that define
 * the same function are both reported and neither is used.
 */
export async function readFunctionFolder(dir: string): Promise<FolderContents> {
  const names = (await readdir(dir, { withFileTypes: true }))
    .filter((entry) => entry.isFile() && YAML_FILE.test(entry.name))
    .map((entry) => entry.name)
    .sort();
  const all: LoadedFunction[] = [];
  const problems: FileProblem[] = [];
  for (const name of names) {
    const file = join(dir, name);
    const label = relative(process.cwd(), file) || name;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      problems.push({ files: [file], where: label, message: `cannot read: ${(err as Error).message}` });
      continue;
    }
    const parsed = parseFunctionFile(file, text, label);
    all.push(...parsed.functions);
    problems.push(...parsed.problems);
  }
  const byKey = new Map<string, LoadedFunction[]>();
  for (const fn of all) {
    const key = functionKey(fn.resource.metadata.namespace, fn.resource.metadata.name);
    byKey.set(key, [...(byKey.get(key) ?? []), fn]);
  }
  const functions: LoadedFunction[] = [];
  for (const [key, defined] of byKey) {
    if (defined.length === 1) functions.push(defined[0] as LoadedFunction);
    else {
      const files = defined.map((d) => d.file);
      problems.push({
        files,
        where: files.map((f) => relative(process.cwd(), f)).join(', '),
        message: `function ${key} is defined more than once; none of them is used`,
      });
    }
  }
  return { functions, problems };
}
