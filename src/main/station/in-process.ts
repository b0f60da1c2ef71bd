// The in-process transport (CLI, tests): the same validation as every other transport, no copying.
import { API_METHODS, parseRequest, type StationApi } from '../../common/api';

/** Wrap a StationApi so every request is validated exactly as the HTTP and IPC transports validate it. */
export function validated(api: StationApi): StationApi {
  const out: Record<string, unknown> = { onEvent: api.onEvent.bind(api) };
  for (const m of API_METHODS) {
    const fn = (api[m] as (req: unknown) => Promise<unknown>).bind(api);
    out[m] = async (req: unknown) => fn(parseRequest(m, req));
  }
  return out as StationApi;
}
