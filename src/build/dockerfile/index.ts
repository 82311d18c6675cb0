/** The Dockerfile front end: parser (AST), typed instructions, shell word expansion. */
export * from './parser';
export * from './instructions';
export { expandCommand, expandFrom, type ExpandOptions } from './expand';
export { envFromList, processWord, processWords, type EnvLookup, type ProcessWordResult, type ShellLexOptions } from './shell';
export { parseMount, parseDevice } from './mount';
