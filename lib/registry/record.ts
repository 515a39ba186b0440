/**
 * @deprecated moved to `lib/service-record.ts` (shared by registry and discovery);
 * this re-export stays only until every importer has moved.
 */
export * from '../service-record';
