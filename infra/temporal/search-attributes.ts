import { KILN_SEARCH_ATTRIBUTES as SHARED } from '../../shared/search-attributes.ts';

/** Value types Temporal accepts for a custom search attribute. */
export type SearchAttributeType = 'Text' | 'Keyword' | 'Int' | 'Double' | 'Bool' | 'Datetime' | 'KeywordList';

export interface SearchAttributeDefinition {
  readonly name: string;
  readonly type: SearchAttributeType;
}

/**
 * The custom search attributes Kiln registers in its namespace, so that operators can find builds
 * in the Temporal Web UI (`KilnRepo = "acme/web" AND KilnStatus = "failed"`). Derived from the
 * keys the workflows upsert, so the two cannot drift.
 */
export const KILN_SEARCH_ATTRIBUTES: readonly SearchAttributeDefinition[] = SHARED;
