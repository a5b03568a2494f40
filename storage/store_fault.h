#ifndef SPB_STORE_FAULT_H
#define SPB_STORE_FAULT_H

/*
 * Fault points for the crash tests, compiled in only with SPB_FAULTS (the
 * default build of this repository; a release build turns it off). At run
 * time they are inert unless SPB_FAULT names the point:
 *
 *   SPB_FAULT=<point>:<one in N>[,<point>:<N>...]   e.g. writer.before_commit:50
 *
 * and then each pass through the point kills the process (SIGKILL, as a
 * crash would) with probability 1/N. Points: writer.before_commit (a batch
 * applied, not committed), writer.after_commit (durable, no caller told),
 * payments.after_provider (the provider answered, nothing recorded yet).
 *
 *   SPB_FAULT_STALL=<point>:<ms>[:<times>]          e.g. writer.before_commit:3000:1
 *
 * sleeps ms at the point instead (the first `times` passes, or every one):
 * a disk that stops answering for a while.
 */

#ifdef SPB_FAULTS
void fault_point(const char *name);
#define FAULT_POINT(name) fault_point(name)
#else
#define FAULT_POINT(name) ((void)0)
#endif

#endif
