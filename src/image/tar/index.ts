export type { EntryType, TarEntry, TarEntryInput, TarHeader } from './types';
export { readTar } from './reader';
export type { ReadTarOptions } from './reader';
export { writeTar } from './writer';
export type { TarWriteItem } from './writer';
