/*
 * watch <target> <api-key> [after-sequence]: prints the events the key's
 * account sees, from after-sequence (default 0: the oldest kept) on, as
 * they are committed. The watch reconnects by itself; Ctrl-C ends it.
 */
#include <spbilling.h>
#include <stdio.h>
#include <stdlib.h>

static int print_event(const Smartplus__Billing__V1__Event *ev, void *payload)
{
	(void)payload;
	printf("%lld %s %s v%lld %s\n", (long long)ev->sequence, ev->kind, ev->subject,
	       (long long)ev->subject_version, ev->event_id);
	fflush(stdout);
	return 0; /* go on */
}

int main(int argc, char **argv)
{
	spb_client_options opts = SPB_CLIENT_OPTIONS_INIT;
	spb_watch_options wo = SPB_WATCH_OPTIONS_INIT;
	spb_client *client;
	int error;

	if (argc < 3) {
		fprintf(stderr, "usage: %s <target> <api-key> [after-sequence]\n", argv[0]);
		return 2;
	}
	opts.api_key = argv[2];
	if (!(client = spb_client_new(argv[1], &opts))) {
		fprintf(stderr, "%s\n", spb_error_last()->message);
		return 1;
	}
	wo.after_sequence = argc > 3 ? strtoll(argv[3], NULL, 10) : 0;
	error = spb_events_watch(client, &wo, print_event, NULL);
	if (error < 0)
		fprintf(stderr, "%s: %s\n", spb_status_name(spb_error_last()->grpc_code),
			spb_error_last()->message);
	spb_client_free(client);
	return error < 0 ? 1 : 0;
}
