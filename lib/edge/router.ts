/**
 * Matches a request to a route of lib/definitions/routes.ts with API Gateway's path
 * syntax: `{name}` takes one segment, `{name+}` the rest of the path. A path that
 * matches a route's path but not its method is a 405, as with API Gateway.
 */
import type { RouteDefinition } from '#lib/definitions/routes.ts';
import { routeKey } from '#lib/definitions/routes.ts';

interface CompiledRoute {
  readonly route: RouteDefinition;
  readonly key: string;
  readonly pattern: RegExp;
  readonly names: readonly string[];
}

export type RouteMatch =
  | { readonly kind: 'found'; readonly route: RouteDefinition; readonly routeKey: string; readonly pathParameters: Record<string, string> }
  | { readonly kind: 'method-not-allowed'; /** For the `Allow` header. */ readonly allow: readonly string[] }
  | { readonly kind: 'not-found' };

function compile(route: RouteDefinition): CompiledRoute {
  const names: string[] = [];
  const source = route.path
    .split('/')
    .map((segment) => {
      const greedy = /^\{([A-Za-z0-9_]+)\+\}$/.exec(segment);
      if (greedy?.[1]) {
        names.push(greedy[1]);
        return '(.+)';
      }
      const param = /^\{([A-Za-z0-9_]+)\}$/.exec(segment);
      if (param?.[1]) {
        names.push(param[1]);
        return '([^/]+)';
      }
      return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return { route, key: routeKey(route), pattern: new RegExp(`^${source}$`), names };
}

export function createRouter(routes: readonly RouteDefinition[]) {
  const compiled = routes.map(compile);
  return function match(method: string, path: string): RouteMatch {
    const allow: string[] = [];
    for (const candidate of compiled) {
      const found = candidate.pattern.exec(path);
      if (!found) continue;
      if (candidate.route.method !== method) {
        allow.push(candidate.route.method);
        continue;
      }
      const pathParameters: Record<string, string> = {};
      candidate.names.forEach((name, i) => {
        const raw = found[i + 1] ?? '';
        try {
          pathParameters[name] = decodeURIComponent(raw);
        } catch {
          pathParameters[name] = raw;
        }
      });
      return { kind: 'found', route: candidate.route, routeKey: candidate.key, pathParameters };
    }
    return allow.length > 0 ? { kind: 'method-not-allowed', allow } : { kind: 'not-found' };
  };
}
