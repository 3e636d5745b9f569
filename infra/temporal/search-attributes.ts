/** Value types Temporal accepts for a custom search attribute. */
export type SearchAttributeType = 'Text' | 'Keyword' | 'Int' | 'Double' | 'Bool' | 'Datetime' | 'KeywordList';

export interface SearchAttributeDefinition {
  readonly name: string;
  readonly type: SearchAttributeType;
}

/**
 * The custom search attributes Kiln registers in its namespace, so that operators can find builds
 * in the Temporal Web UI (`KilnRepo = "acme/web" AND KilnStatus = "failed"`).
 * Keep in sync with the keys workflows upsert (shared/search-attributes.ts).
 */
export const KILN_SEARCH_ATTRIBUTES: readonly SearchAttributeDefinition[] = [
  { name: 'KilnRepo', type: 'Keyword' },
  { name: 'KilnBranch', type: 'Keyword' },
  { name: 'KilnCommit', type: 'Keyword' },
  { name: 'KilnEvent', type: 'Keyword' },
  { name: 'KilnStatus', type: 'Keyword' },
];
