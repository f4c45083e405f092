/** The help text of every command's --log option. */
export const LOG_SPEC_HELP =
  "file:<dir>, redis://…, nats://… or kafka://… (a server's may end in ?prefix=<name>; default: $TIERFLOW_LOG or file:<data dir>/log)";
