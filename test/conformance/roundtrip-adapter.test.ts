/** Conformance (issue 12), the round trip of adapter exports (both sides, and query-only): see roundtrip-shared.ts. */
import { roundtripSuite } from './roundtrip-shared';

roundtripSuite('roundtrip-adapter', ['adapter', 'adapter-query']);
