/** Conformance (issue 12), the round trip of full and static exports: see roundtrip-shared.ts. */
import { roundtripSuite } from './roundtrip-shared';

roundtripSuite('roundtrip', ['full', 'static']);
