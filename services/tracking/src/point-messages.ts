/** Location points and their rejections between the proto messages and the domain. */
import {
  PointRejection,
  type LocationPoint,
  type RejectedPoint,
} from "@weelo/contracts/grpc/weelo/tracking/v1/tracking";
import type { RawPoint, Rejection } from "./tracking.rules.js";

export function toRawPoint(p: LocationPoint): RawPoint {
  return {
    seq: p.seq,
    recordedAt: p.recordedAt ? p.recordedAt.getTime() : undefined,
    lat: p.lat,
    lng: p.lng,
    accuracyM: p.accuracyM,
    speedMps: p.speedMps,
    heading: p.heading,
  };
}

const REJECTION: Record<Rejection, PointRejection> = {
  invalid: PointRejection.POINT_REJECTION_INVALID_COORDINATES,
  null_island: PointRejection.POINT_REJECTION_NULL_ISLAND,
  missing_time: PointRejection.POINT_REJECTION_MISSING_TIME,
  future: PointRejection.POINT_REJECTION_FUTURE,
  too_old: PointRejection.POINT_REJECTION_TOO_OLD,
  inaccurate: PointRejection.POINT_REJECTION_INACCURATE,
  invalid_accuracy: PointRejection.POINT_REJECTION_INVALID_ACCURACY,
  invalid_speed: PointRejection.POINT_REJECTION_INVALID_SPEED,
  invalid_heading: PointRejection.POINT_REJECTION_INVALID_HEADING,
  impossible_jump: PointRejection.POINT_REJECTION_IMPOSSIBLE_JUMP,
};

/** Each rejected point of an ingest, with its reason, as the ack tells it. */
export function toRejections(rejections: readonly { seq: number; reason: Rejection }[]): RejectedPoint[] {
  return rejections.map(({ seq, reason }) => ({ seq, reason: REJECTION[reason] }));
}
