/** Random container names in Docker's adjective_surname style, so users can refer to containers without IDs. */
import { randomInt } from 'node:crypto';

const LEFT = [
  'admiring', 'bold', 'brave', 'busy', 'calm', 'clever', 'cool', 'dazzling', 'eager', 'elated', 'epic', 'focused',
  'gallant', 'gifted', 'happy', 'hopeful', 'jolly', 'keen', 'kind', 'lucid', 'magical', 'modest', 'nifty', 'optimistic',
  'peaceful', 'quirky', 'relaxed', 'serene', 'sharp', 'stoic', 'sweet', 'tender', 'trusting', 'upbeat', 'vibrant', 'zealous',
];
const RIGHT = [
  'albattani', 'babbage', 'bardeen', 'bell', 'boole', 'curie', 'darwin', 'dijkstra', 'einstein', 'euler', 'fermi',
  'feynman', 'gauss', 'hamilton', 'hopper', 'hypatia', 'kepler', 'knuth', 'lamarr', 'lovelace', 'mccarthy', 'meitner',
  'newton', 'noether', 'pasteur', 'ritchie', 'shannon', 'thompson', 'torvalds', 'turing', 'wozniak', 'yalow',
];

export function randomName(taken: (n: string) => boolean): string {
  for (let i = 0; ; i++) {
    const n = `${LEFT[randomInt(LEFT.length)]}_${RIGHT[randomInt(RIGHT.length)]}${i > 5 ? randomInt(10) : ''}`;
    if (!taken(n)) return n;
  }
}

export const NAME_RE = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
