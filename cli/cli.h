/* cli — private declarations shared by the nslock subcommands. */
#ifndef NSL_CLI_H
#define NSL_CLI_H

/* Exit statuses (the nslock(1) man page lists them). */
enum {
    NSL_EXIT_OK = 0,
    NSL_EXIT_FAIL = 1,    /* a lock not granted, validation errors */
    NSL_EXIT_USAGE = 2,   /* usage, unreadable file, connection error */
    NSL_EXIT_LOST = 3,    /* nslock lock: the locks were lost while the command ran */
};

int nsl_cmd_validate(int argc, char **argv);
int nsl_cmd_resolve(int argc, char **argv);
int nsl_cmd_map(int argc, char **argv);
int nsl_cmd_map_diff(int argc, char **argv);   /* map --diff */
int nsl_cmd_serve(int argc, char **argv);
int nsl_cmd_show(int argc, char **argv);
int nsl_cmd_shell(int argc, char **argv);
int nsl_cmd_lock(int argc, char **argv);
int nsl_cmd_remove(int argc, char **argv);
int nsl_cmd_stats(int argc, char **argv);

#endif
