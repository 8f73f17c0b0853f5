// SPDX-License-Identifier: Apache-2.0
// Static test init for test-jail: run as PID 1 in a jail, report what it sees as key=value lines.
//
// Usage: jail-probe report [serve]     checks, fork loop, memory hog; then answer on fd 3
//        jail-probe exec PROGRAM ARGS  run a program from the rootfs and exit with its status
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

static void status_field(const char* name) {
  FILE* f = fopen("/proc/self/status", "r");
  char line[512];
  size_t n = strlen(name);
  if (!f) return;
  while (fgets(line, sizeof(line), f)) {
    if (strncmp(line, name, n) == 0 && line[n] == ':') {
      char* v = line + n + 1;
      while (*v == ' ' || *v == '\t') ++v;
      printf("%s=%s", name, v);  // v ends with '\n'
    }
  }
  fclose(f);
}

static void count_processes(void) {
  DIR* d = opendir("/proc");
  struct dirent* e;
  int n = 0;
  if (!d) {
    printf("nprocs=error:%d\n", errno);
    return;
  }
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] >= '1' && e->d_name[0] <= '9') ++n;
  closedir(d);
  printf("nprocs=%d\n", n);
}

static void list_fds(void) {
  DIR* d = opendir("/proc/self/fd");
  struct dirent* e;
  if (!d) return;
  printf("fds=");
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    if (atoi(e->d_name) == dirfd(d)) continue;
    printf("%s,", e->d_name);
  }
  printf("\n");
  closedir(d);
}

static void net_devices(void) {
  FILE* f = fopen("/proc/net/dev", "r");
  char line[512];
  int lineno = 0;
  if (!f) {
    printf("netdevs=error:%d\n", errno);
    return;
  }
  printf("netdevs=");
  while (fgets(line, sizeof(line), f)) {
    char* colon;
    char* name = line;
    if (++lineno <= 2) continue;  // headers
    colon = strchr(line, ':');
    if (!colon) continue;
    *colon = '\0';
    while (*name == ' ') ++name;
    printf("%s,", name);
  }
  printf("\n");
  fclose(f);
  {
    struct ifreq ifr;
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    memset(&ifr, 0, sizeof(ifr));
    strcpy(ifr.ifr_name, "lo");
    if (s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0)
      printf("lo_up=%d\n", (ifr.ifr_flags & IFF_UP) ? 1 : 0);
    if (s >= 0) close(s);
  }
}

static void run_shell(void) {
  int p[2];
  pid_t pid;
  char buf[256];
  ssize_t n;
  int status = 0;
  if (pipe(p) != 0) return;
  pid = fork();
  if (pid == 0) {
    dup2(p[1], 1);
    close(p[0]);
    close(p[1]);
    execl("/bin/sh", "sh", "-c", "echo $((6*7)) $(id -u)",
          (char*)NULL);
    _exit(126);
  }
  close(p[1]);
  n = read(p[0], buf, sizeof(buf) - 1);
  close(p[0]);
  if (n < 0) n = 0;
  buf[n] = '\0';
  if (n > 0 && buf[n - 1] == '\n') buf[n - 1] = '\0';
  waitpid(pid, &status, 0);
  printf("shell_out=%s\nshell_status=%d\n", buf, status);
}

static void fork_loop(void) {
  int forks = 0, err = 0;
  for (int i = 0; i < 10000; ++i) {
    pid_t pid = fork();
    if (pid < 0) {
      err = errno;
      break;
    }
    if (pid == 0) {
      pause();
      _exit(0);
    }
    ++forks;
  }
  // PID 1 of a pid namespace: kill(-1) reaches every other process in it.
  kill(-1, SIGKILL);
  while (wait(NULL) > 0) {
  }
  printf("forks=%d\nfork_errno=%d\n", forks, err);
}

static void memory_hog(void) {
  int status = 0;
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open("/proc/self/oom_score_adj", O_WRONLY);
    if (fd >= 0) {
      (void)!write(fd, "1000", 4);
      close(fd);
    }
    for (int i = 0; i < 512; ++i) {  // 512 MiB, far above the test's limit
      char* p = malloc(1 << 20);
      if (!p) _exit(2);
      memset(p, 1, 1 << 20);
    }
    _exit(0);
  }
  waitpid(pid, &status, 0);
  if (WIFSIGNALED(status))
    printf("hog=signal:%d\n", WTERMSIG(status));
  else
    printf("hog=exit:%d\n", WEXITSTATUS(status));
}

static void serve(void) {
  struct utsname u;
  char msg[128];
  uname(&u);
  snprintf(msg, sizeof(msg), "pong %s\n", u.nodename);
  for (;;) {
    int c = accept(3, NULL, NULL);
    if (c < 0) {
      if (errno == EINTR) continue;
      printf("accept_errno=%d\n", errno);
      return;
    }
    (void)!write(c, msg, strlen(msg));
    close(c);
  }
}

// "chr:MAJ:MIN" for a device (a file masked with /dev/null), "dir:N" for a directory with
// N entries (masked: 0), "missing", or "other".
static void describe_masked(const char* key, const char* path) {
  struct stat st;
  if (stat(path, &st) != 0) {
    printf("%s=missing\n", key);
  } else if (S_ISCHR(st.st_mode)) {
    printf("%s=chr:%u:%u\n", key, major(st.st_rdev), minor(st.st_rdev));
  } else if (S_ISDIR(st.st_mode)) {
    int n = 0;
    DIR* d = opendir(path);
    struct dirent* e;
    while (d && (e = readdir(d)) != NULL)
      if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) ++n;
    if (d) closedir(d);
    printf("%s=dir:%d\n", key, n);
  } else {
    printf("%s=other\n", key);
  }
}

// "1" when `path` is on a read-only mount, "0" when writable, "missing".
static void describe_read_only(const char* key, const char* path) {
  struct statvfs sv;
  if (statvfs(path, &sv) != 0)
    printf("%s=missing\n", key);
  else
    printf("%s=%d\n", key, (sv.f_flag & ST_RDONLY) ? 1 : 0);
}

static void report(void) {
  struct utsname u;
  int fd, listening = 0;
  socklen_t len = sizeof(listening);

  printf("pid=%d\n", (int)getpid());
  printf("uid=%d\ngid=%d\n", (int)getuid(), (int)getgid());
  uname(&u);
  printf("hostname=%s\n", u.nodename);
  count_processes();
  list_fds();
  status_field("CapEff");
  status_field("CapBnd");
  status_field("NoNewPrivs");
  status_field("Seccomp");
  if (getsockopt(3, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0)
    printf("fd3_listening=%d\n", listening);
  printf("listen_fds=%s\n", getenv("LISTEN_FDS") ? getenv("LISTEN_FDS") : "");

  errno = 0;
  printf("mount_errno=%d\n", mount("none", "/tmp", "tmpfs", 0, NULL) == 0 ? 0 : errno);
  fd = open("/proc/sys/kernel/hostname", O_WRONLY);
  printf("proc_sys_errno=%d\n", fd >= 0 ? 0 : errno);
  if (fd >= 0) close(fd);
  describe_read_only("proc_sys_ro", "/proc/sys");
  describe_read_only("proc_sysrq_ro", "/proc/sysrq-trigger");
  describe_read_only("proc_bus_ro", "/proc/bus");
  describe_masked("kcore", "/proc/kcore");
  describe_masked("keys", "/proc/keys");
  describe_masked("timer_list", "/proc/timer_list");
  describe_masked("acpi", "/proc/acpi");
  describe_masked("sys_firmware", "/sys/firmware");
  printf("sys_mkdir_errno=%d\n", mkdir("/sys/probe", 0755) == 0 ? 0 : errno);
  printf("dev_null=%d\n", access("/dev/null", W_OK) == 0 ? 1 : 0);
  printf("ptmx=%d\n", access("/dev/pts/ptmx", F_OK) == 0 ? 1 : 0);
  net_devices();

  fd = open("/tmp/probe-file", O_WRONLY | O_CREAT | O_TRUNC, 0644);
  printf("tmp_write=%d\n", fd >= 0 && write(fd, "hello\n", 6) == 6 ? 1 : 0);
  if (fd >= 0) close(fd);
  fd = open("/proc/self/cgroup", O_RDONLY);
  if (fd >= 0) {
    char buf[512];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    buf[n > 0 ? n : 0] = '\0';
    for (char* p = buf; *p; ++p)
      if (*p == '\n') *p = ';';
    printf("cgroups=%s\n", buf);
    close(fd);
  }

  run_shell();
  fork_loop();
  memory_hog();
  printf("done=1\n");
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IONBF, 0);  // unbuffered: lines land in the log before any fork
  if (argc >= 2 && strcmp(argv[1], "report") == 0) {
    report();
    if (argc >= 3 && strcmp(argv[2], "serve") == 0) serve();
    return 0;
  }
  if (argc >= 3 && strcmp(argv[1], "exec") == 0) {
    int status = 0;
    pid_t pid = fork();
    if (pid == 0) {
      execv(argv[2], argv + 2);
      _exit(127);
    }
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  fprintf(stderr, "usage: jail-probe report [serve] | exec PROGRAM [ARGS...]\n");
  return 2;
}
