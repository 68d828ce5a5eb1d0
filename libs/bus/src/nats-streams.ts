/**
 * JetStream's side of streams and durable consumers for NatsBus: each is created when missing
 * and brought in line with the settings asked for when it differs, safely when several
 * processes start at once.
 */
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type JetStreamManager,
  type StreamConfig,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import { DEFAULTS } from "./delivery.js";
import type { ConsumeOptions, StreamSpec } from "./types.js";

const DEFAULT_DUPLICATE_WINDOW_MS = 120_000;

/** Creates the stream, or updates it to this spec (replicas: NATS_STREAM_REPLICAS). */
export async function ensureJetStream(jsm: JetStreamManager, spec: StreamSpec, replicas: number): Promise<void> {
  const window = spec.duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS;
  const limits = {
    subjects: spec.subjects,
    max_age: nanos(spec.maxAgeMs ?? 0),
    duplicate_window: nanos(spec.maxAgeMs ? Math.min(window, spec.maxAgeMs) : window),
    max_msgs: spec.maxMessages ?? -1,
    num_replicas: replicas,
  };
  let existing: StreamConfig | undefined;
  try {
    existing = (await jsm.streams.info(spec.name)).config;
  } catch (err) {
    if (!isApiError(err, JetStreamApiCodes.StreamNotFound)) throw err;
  }
  if (!existing) {
    try {
      await jsm.streams.add({
        name: spec.name,
        storage: StorageType.File,
        retention: RetentionPolicy.Limits,
        ...limits,
      });
      return;
    } catch (err) {
      // Another process created it meanwhile: fall through to bringing its config in line.
      // Any other refusal (e.g. more replicas than the servers can hold) is the error to report.
      if (!(err instanceof JetStreamApiError)) throw err;
      existing = await jsm.streams.info(spec.name).then(
        (info): StreamConfig => info.config,
        (): Promise<StreamConfig> => Promise.reject(err),
      );
    }
  }
  const same =
    existing.max_age === limits.max_age &&
    existing.duplicate_window === limits.duplicate_window &&
    existing.max_msgs === limits.max_msgs &&
    existing.num_replicas === limits.num_replicas &&
    [...(existing.subjects ?? [])].sort().join() === [...limits.subjects].sort().join();
  if (!same) await jsm.streams.update(spec.name, limits);
}

/**
 * Creates the durable pull consumer, or updates it to these settings. Its max_deliver is
 * unlimited on purpose: delivery.ts counts deliveries and dead-letters, identically for both
 * implementations, including a message whose last delivery was never acked.
 */
export async function ensureDurable(jsm: JetStreamManager, options: ConsumeOptions): Promise<void> {
  const filters = options.filterSubjects ?? [];
  const settings: Partial<ConsumerConfig> = {
    ack_wait: nanos(options.ackWaitMs ?? DEFAULTS.ackWaitMs),
    max_deliver: -1,
    // One filter works on every server version; several need NATS 2.10 or later.
    ...(filters.length === 1 ? { filter_subject: filters[0] } : filters.length > 1 ? { filter_subjects: filters } : {}),
  };
  let current: ConsumerConfig | undefined;
  try {
    current = (await jsm.consumers.info(options.stream, options.durable)).config;
  } catch (err) {
    if (!isApiError(err, JetStreamApiCodes.ConsumerNotFound)) throw err;
  }
  if (!current) {
    await jsm.consumers.add(options.stream, {
      durable_name: options.durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ...settings,
    });
    return;
  }
  const currentFilters = current.filter_subjects ?? (current.filter_subject ? [current.filter_subject] : []);
  if (
    current.ack_wait !== settings.ack_wait ||
    current.max_deliver !== -1 ||
    currentFilters.join() !== filters.join()
  ) {
    await jsm.consumers.update(options.stream, options.durable, settings);
  }
}

export function isApiError(err: unknown, code: number): boolean {
  return err instanceof JetStreamApiError && err.code === code;
}
