/**
 * Kysely's log hook: every query's duration goes into weelo_db_query_duration_seconds and a
 * slow query is logged with its SQL text. Parameters never reach the log: they hold phone
 * numbers, tokens and other personal data.
 */
import type { LogEvent, RootOperationNode } from "kysely";
import type { Logger } from "@weelo/log";
import type { Metrics } from "@weelo/metrics";

export type QueryOperation = "select" | "insert" | "update" | "delete" | "other";

/** Queries slower than this are logged at warn by default. */
export const DEFAULT_SLOW_QUERY_MS = 500;

const BY_NODE_KIND: Partial<Record<RootOperationNode["kind"], QueryOperation>> = {
  SelectQueryNode: "select",
  InsertQueryNode: "insert",
  UpdateQueryNode: "update",
  DeleteQueryNode: "delete",
};

const BY_FIRST_WORD: Record<string, QueryOperation> = {
  select: "select",
  insert: "insert",
  update: "update",
  delete: "delete",
};

/**
 * The statement kind of a compiled query: from the query builder's root node, or for raw
 * SQL (sql`...`, BEGIN, migrations) from its first word. A bounded set, fit for a label.
 */
export function queryOperation(node: RootOperationNode, sqlText: string): QueryOperation {
  const byNode = BY_NODE_KIND[node.kind];
  if (byNode) return byNode;
  const firstWord = /^[\s(]*([a-z]+)/i.exec(sqlText)?.[1]?.toLowerCase();
  return (firstWord && BY_FIRST_WORD[firstWord]) || "other";
}

export interface QueryLogOptions {
  /** The service name, the metric's `service` label. */
  service: string;
  logger: Logger;
  metrics?: Metrics;
  slowQueryMs?: number;
}

/** Builds the function given to `new Kysely({ log })`. */
export function createQueryLog(options: QueryLogOptions): (event: LogEvent) => void {
  const slowQueryMs = options.slowQueryMs ?? DEFAULT_SLOW_QUERY_MS;
  return (event) => {
    // Kysely awaits this hook inside the query path: it must not throw or block.
    try {
      const operation = queryOperation(event.query.query, event.query.sql);
      options.metrics?.dbQueryDuration.labels(options.service, operation).observe(event.queryDurationMillis / 1000);
      if (event.queryDurationMillis > slowQueryMs) {
        options.logger.warn(
          {
            operation,
            durationMs: Math.round(event.queryDurationMillis),
            sql: event.query.sql,
            failed: event.level === "error",
          },
          "slow database query",
        );
      }
    } catch {
      // Observability must never fail a query.
    }
  };
}
