export interface Instruction {
  /** Upper case: FROM, RUN, USER, CMD… */
  keyword: string;
  args: string;
}

export interface Stage {
  /** The FROM line's image, and its `AS` name when it has one. */
  image: string;
  name: string | undefined;
  instructions: Instruction[];
}

/**
 * A Dockerfile's build stages, enough to check statically what an image will run: comments and
 * parser directives dropped, continued lines joined, one entry per FROM.
 */
export function dockerfileStages(text: string): Stage[] {
  const stages: Stage[] = [];
  const logical = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  for (const line of logical) {
    const match = /^(\S+)\s*(.*)$/.exec(line);
    if (match === null) continue;
    const keyword = (match[1] ?? '').toUpperCase();
    const args = match[2] ?? '';
    if (keyword === 'FROM') {
      const [image = '', as, name] = args.split(/\s+/);
      stages.push({ image, name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (stage === undefined) throw new Error(`${keyword} before any FROM`);
    stage.instructions.push({ keyword, args });
  }
  return stages;
}

/** The last value an instruction takes in a stage (later USER, CMD or WORKDIR lines win). */
export function lastInstruction(stage: Stage, keyword: string): string | undefined {
  return stage.instructions.filter((i) => i.keyword === keyword).at(-1)?.args;
}
