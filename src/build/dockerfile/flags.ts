/** Instruction flags (`--from=x`, `--link`), with BuildKit's BFlags rules and messages. */
import { withSuggestion } from './text';

type FlagType = 'bool' | 'string' | 'strings';

interface Flag {
  type: FlagType;
  value: string;
  values: string[];
}

export class BFlags {
  private readonly defs = new Map<string, Flag>();
  readonly used = new Set<string>();

  constructor(private readonly args: readonly string[]) {}

  private add(name: string, type: FlagType, value: string): Flag {
    const f: Flag = { type, value, values: [] };
    this.defs.set(name, f);
    return f;
  }
  addBool(name: string, def = false): Flag {
    return this.add(name, 'bool', def ? 'true' : 'false');
  }
  addString(name: string, def = ''): Flag {
    return this.add(name, 'string', def);
  }
  addStrings(name: string): Flag {
    return this.add(name, 'strings', '');
  }

  /** Check the given flags against the defined ones; throws BuildKit's messages. */
  parse(): void {
    for (const a of this.args) {
      if (a === '--') return; // the rest are operands
      if (!a.startsWith('--')) throw new Error(`arg should start with -- : ${a}`);
      const eq = a.indexOf('=');
      const flagName = eq < 0 ? a : a.slice(0, eq);
      const value = eq < 0 ? '' : a.slice(eq + 1);
      const name = flagName.slice(2);
      const f = this.defs.get(name);
      if (!f) throw new Error(withSuggestion(`unknown flag: ${flagName}`, name, [...this.defs.keys()], true));
      if (this.used.has(name) && f.type !== 'strings') throw new Error(`duplicate flag specified: ${flagName}`);
      this.used.add(name);
      switch (f.type) {
        case 'bool':
          if (eq >= 0 && value === '') throw new Error(`missing a value on flag: ${flagName}`);
          if (value === '' || value.toLowerCase() === 'true') f.value = 'true';
          else if (value.toLowerCase() === 'false') f.value = 'false';
          else throw new Error(`expecting boolean value for flag ${flagName}, not: ${value}`);
          break;
        case 'string':
          if (eq < 0) throw new Error(`missing a value on flag: ${flagName}`);
          f.value = value;
          break;
        case 'strings':
          if (eq < 0) throw new Error(`missing a value on flag: ${flagName}`);
          f.values.push(value);
          break;
      }
    }
  }
}
