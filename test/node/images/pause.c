/*
 * The pod sandbox ("pause") process of the real-node tests: no registry is reachable, so the
 * harness builds this with `gcc -static` into an image of one file (test/node/harness/images.ts).
 *
 * A sandbox's first process holds the pod's namespaces open and, as PID 1 of the pod's PID
 * namespace when the pod shares one, must reap the orphans that get reparented to it. So it
 * sleeps until a signal comes: SIGCHLD reaps every exited child, SIGINT or SIGTERM ends it.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int signo) {
  (void)signo;
  _exit(0);
}

static void reap(int signo) {
  (void)signo;
  int saved = errno;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
  errno = saved;
}

static int on(int signo, void (*handler)(int)) {
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = handler;
  sigemptyset(&action.sa_mask);
  action.sa_flags = signo == SIGCHLD ? SA_NOCLDSTOP | SA_RESTART : SA_RESTART;
  return sigaction(signo, &action, NULL);
}

int main(int argc, char **argv) {
  (void)argc;
  (void)argv;
  if (on(SIGINT, stop) < 0 || on(SIGTERM, stop) < 0 || on(SIGCHLD, reap) < 0) {
    perror("pause: sigaction");
    return 1;
  }
  for (;;) pause();
}
