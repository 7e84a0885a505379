// Where the app's socket is (docs/app-protocol.md, "Finding the socket"):
// 1. SSI_APP_SOCKET: the socket's path outright;
// 2. SSI_AGENT_RUN_DIR (default /run/ssi-agent) + /apps/ + SSI_PACKAGE_ID + .sock.

import * as path from 'node:path';

export const SOCKET_ENV = 'SSI_APP_SOCKET';
export const RUN_DIR_ENV = 'SSI_AGENT_RUN_DIR';
export const PACKAGE_ID_ENV = 'SSI_PACKAGE_ID';
export const DEFAULT_RUN_DIR = '/run/ssi-agent';

/** The socket's path, or why there is none (a configuration error, not a missing agent). */
export type SocketLocation = { path: string } | { problem: string };

/** Finds the app's socket from the environment, as the protocol says. */
export function findAppSocket(env: Record<string, string | undefined>): SocketLocation {
  const socket = env[SOCKET_ENV];
  if (socket) return { path: socket };
  const runDir = env[RUN_DIR_ENV] || DEFAULT_RUN_DIR;
  const packageId = env[PACKAGE_ID_ENV];
  if (!packageId) {
    return {
      problem:
        `no app socket configured: set ${SOCKET_ENV} to the socket's path, or ${PACKAGE_ID_ENV} ` +
        `to find ${path.join(runDir, 'apps', '<package id>.sock')}`,
    };
  }
  // One path segment: the package id must not lead out of <run dir>/apps.
  if (packageId.includes('/') || packageId.includes('\0') || packageId === '.' || packageId === '..') {
    return {
      problem: `${PACKAGE_ID_ENV}: must be a package id, one path segment without "/" (got ${JSON.stringify(packageId.slice(0, 64))})`,
    };
  }
  return { path: path.join(runDir, 'apps', `${packageId}.sock`) };
}
