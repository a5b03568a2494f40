# sdk_docs.awk: one Markdown page per public SDK function, from the headers.
#
#   awk -v out=DIR -f sdk_docs.awk spbilling.h spb_rpc.h
#
# Every `/** ... */` comment followed by an `SPB_EXTERN` declaration is one
# function: DIR/<name>.md gets its synopsis (the declaration), its
# description (the comment) and an example; DIR/index.md lists them all.
# Generated at build time, so the pages say what the headers say.

function flush_doc(   name, decl, file, req, resp, svc) {
	decl = pending_decl
	if (!match(decl, /[a-z_0-9]+\(/))
		return
	name = substr(decl, RSTART, RLENGTH - 1)
	file = out "/" name ".md"
	print "# " name "\n" > file
	print "## Synopsis\n\n```c\n#include <spbilling.h>\n\n" decl "\n```\n" > file
	print "## Description\n\n" comment > file
	print "## Example\n" > file
	if (match(decl, /Smartplus__Billing__V1__[A-Za-z]+Request/)) {
		req = substr(decl, RSTART, RLENGTH)
		resp = req
		sub(/Request$/, "Response", resp)
		macro = req
		sub(/^Smartplus__Billing__V1__/, "", macro)
		gsub(/[A-Z]/, "_&", macro)
		macro = "SMARTPLUS__BILLING__V1_" toupper(macro) "__INIT"
		print "```c\n" req " req = " macro ";\n" resp " *resp = NULL;\n" > file
		print "/* set the request's fields */" > file
		print "if (" name "(client, &req, &resp, NULL) < 0)" > file
		print "        fprintf(stderr, \"%s: %s (%s)\\n\", spb_status_name(spb_error_last()->grpc_code)," > file
		print "                spb_error_last()->message, spb_error_last()->reason);" > file
		print "spb_message_free(resp);\n```\n" > file
	} else {
		print "See `examples/catalog.c` beside these pages for a complete program.\n" > file
	}
	print "See also: [index](index.md)." > file
	close(file)
	# the first sentence of the first paragraph
	summary = comment
	sub(/\n\n.*/, "", summary)
	gsub(/\n/, " ", summary)
	if (match(summary, /\. /))
		summary = substr(summary, 1, RSTART)
	sub(/ +$/, "", summary)
	index_lines = index_lines "- [" name "](" name ".md): " summary "\n"
}

/^\/\*\*/ {
	in_comment = 1
	comment = ""
	line = $0
	sub(/^\/\*\*[ ]?/, "", line)
	if (line != "" && line !~ /\*\/[ ]*$/)
		comment = line "\n"
	if ($0 ~ /\*\/[ ]*$/) {
		line = $0
		sub(/^\/\*\*[ ]*/, "", line)
		sub(/[ ]*\*\/[ ]*$/, "", line)
		comment = line "\n"
		in_comment = 0
		after_comment = 1
	}
	next
}
in_comment {
	if ($0 ~ /\*\//) {
		line = $0
		sub(/[ ]*\*\/.*/, "", line)
		sub(/^[ ]*\*[ ]?/, "", line)
		if (line != "")
			comment = comment line "\n"
		in_comment = 0
		after_comment = 1
		next
	}
	line = $0
	sub(/^[ ]*\*[ ]?/, "", line)
	comment = comment line "\n"
	next
}
after_comment && /^SPB_EXTERN/ {
	in_decl = 1
	pending_decl = ""
}
in_decl {
	line = $0
	sub(/^SPB_EXTERN /, "", line)
	pending_decl = pending_decl (pending_decl == "" ? "" : "\n") line
	if ($0 ~ /;[ ]*$/) {
		in_decl = 0
		after_comment = 0
		flush_doc()
	}
	next
}
/[^ \t]/ { after_comment = 0 }

END {
	file = out "/index.md"
	print "# libspbilling functions\n" > file
	print "One page per public function, generated from `spbilling.h` and the" > file
	print "generated `spb_rpc.h` (one function per RPC).\n" > file
	printf "%s", index_lines > file
	close(file)
}
