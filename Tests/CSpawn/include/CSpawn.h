#ifndef CSPAWN_H
#define CSPAWN_H

#include <spawn.h>

// glibc declares these only under _GNU_SOURCE, which the Swift Glibc module is built without.
// Both exist in every glibc from 2.34 (Debian 12 has 2.36).

/// In the child, closes every descriptor from `from` on (after the file actions before it).
int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *actions, int from);

/// A pipe whose flags (O_CLOEXEC) are set atomically with its creation.
int pipe2(int pipefd[2], int flags);

#endif
