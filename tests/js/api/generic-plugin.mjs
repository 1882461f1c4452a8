// A minimal janode plugin descriptor for any plugin: every plugin answer (sync success with
// plugindata, or an async event carrying the request's transaction) resolves the pending
// request with the raw Janus message; events not tied to a pending request are emitted as
// GENERIC_EVENT with the raw message.
import Handle from 'janode/handle';

export const GENERIC_EVENT = 'generic_plugin_event';

class GenericHandle extends Handle {
  handleMessage(janusMessage) {
    const { plugindata, transaction } = janusMessage;
    if (!plugindata || typeof plugindata !== 'object') return null;
    if (transaction && this.ownsTransaction(transaction)) {
      this.closeTransactionWithSuccess(transaction, janusMessage);
    } else {
      this.emit(GENERIC_EVENT, janusMessage);
    }
    return janusMessage;
  }
}

export function genericPlugin(id) {
  return { id, Handle: GenericHandle, EVENT: { GENERIC_EVENT } };
}
