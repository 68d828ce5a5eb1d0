/**
 * WatchFleet's stream: the trucks inside a bounding box, from tracking's fleet positions, thinned
 * and coloured for the console. Placeholder: the "ops-fleet" work (issue 17) owns this file's real
 * body; until it lands the stream answers UNIMPLEMENTED.
 */
import type {
  WatchFleetPositionsRequest,
  WatchFleetPositionsResponse,
} from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_internal_service";
import type { BoundingBox } from "@weelo/contracts/grpc/weelo/ops/v1/ops";
import type { WatchFleetResponse } from "@weelo/contracts/grpc/weelo/ops/v1/ops_service";
import { DomainError, GrpcCode } from "@weelo/errors";

export interface FleetWatchDeps {
  /** tracking's TrackingInternalService.WatchFleetPositions over the mesh (grpc-js client). */
  watchFleetPositions(
    request: WatchFleetPositionsRequest,
    signal: AbortSignal,
  ): AsyncIterable<WatchFleetPositionsResponse>;
  /** dispatch's DispatchOpsService.ListOfferedTransporters. */
  listOfferedTransporters(signal: AbortSignal): Promise<string[]>;
}

// biome-ignore lint/correctness/useYield: placeholder until the fleet stream lands
export async function* watchFleet(
  _deps: FleetWatchDeps,
  _bounds: BoundingBox,
  _signal: AbortSignal,
): AsyncIterable<WatchFleetResponse> {
  throw new DomainError(GrpcCode.UNIMPLEMENTED, "WatchFleet is not implemented yet");
}
