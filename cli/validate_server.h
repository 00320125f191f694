/* cli/validate_server.h — `nslock validate --against-server`. */
#ifndef NSL_CLI_VALIDATE_SERVER_H
#define NSL_CLI_VALIDATE_SERVER_H

#include "mapping/mapping.h"

/* Lists the locks of the server at socket_path (NULL: found as every
 * client finds it) that res, compiled from path, would put in another set
 * of databases. Returns 0 when none would move, 1 when some would, 2 when
 * the server cannot be asked. */
int nsl_validate_against_server(const char *path, const nsl_resolver *res,
                                const char *socket_path);

#endif
