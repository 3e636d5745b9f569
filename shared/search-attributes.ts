import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * Custom search attributes, registered on the Temporal server at start, so an operator can find
 * builds in the Web UI (e.g. `KilnRepo = "acme/web" AND KilnStatus = "failed"`).
 */
export const KilnRepo = defineSearchAttributeKey('KilnRepo', SearchAttributeType.KEYWORD);
export const KilnBranch = defineSearchAttributeKey('KilnBranch', SearchAttributeType.KEYWORD);
export const KilnCommit = defineSearchAttributeKey('KilnCommit', SearchAttributeType.KEYWORD);
export const KilnEvent = defineSearchAttributeKey('KilnEvent', SearchAttributeType.KEYWORD);
export const KilnStatus = defineSearchAttributeKey('KilnStatus', SearchAttributeType.KEYWORD);

/** Names and types, for registering them with the server. */
export const KILN_SEARCH_ATTRIBUTES = [KilnRepo, KilnBranch, KilnCommit, KilnEvent, KilnStatus].map(
  (key) => ({
    name: key.name,
    type: 'Keyword' as const,
  }),
);
