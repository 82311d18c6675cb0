/** The build context: .dockerignore matching, the context walker and COPY source selection. */
export { PatternMatcher, Pattern, matchesOrParentMatches, matchesPatterns, EMPTY_MATCH_INFO } from './patternmatcher';
export type { MatchInfo, MatchType } from './patternmatcher';
export { readIgnoreFile } from './ignorefile';
export { walkContext, findIgnoreFile, readContextIgnore, comparePaths, selectSources } from './walk';
export type { ContextEntry, WalkOptions, WalkStats, SelectedEntry, SelectOptions } from './walk';
