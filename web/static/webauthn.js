// Akari: what the WebAuthn ceremonies of the clinician login (login.js) and the admin
// pages (admin.js) share; each page loads this script first. Binary fields travel as
// base64url: request options are decoded into buffers for navigator.credentials.get,
// and the assertion it returns is encoded back as JSON for the server.
(function () {
  'use strict';

  function toBuf(s) {
    s = s.replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) { s += '='; }
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return out.buffer;
  }

  function fromBuf(buf) {
    var bytes = new Uint8Array(buf);
    var s = '';
    for (var i = 0; i < bytes.length; i++) { s += String.fromCharCode(bytes[i]); }
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  // The server's request options (parsed JSON) as navigator.credentials.get takes them.
  function requestOptions(o) {
    var pk = o.publicKey;
    pk.challenge = toBuf(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = toBuf(c.id); });
    return { publicKey: pk };
  }

  // An assertion credential as the server reads it.
  function assertionJson(c) {
    var r = c.response;
    return {
      id: c.id,
      rawId: fromBuf(c.rawId),
      type: c.type,
      response: {
        authenticatorData: fromBuf(r.authenticatorData),
        clientDataJSON: fromBuf(r.clientDataJSON),
        signature: fromBuf(r.signature),
        userHandle: r.userHandle ? fromBuf(r.userHandle) : null
      },
      extensions: {}
    };
  }

  window.akariWebAuthn = {
    toBuf: toBuf,
    fromBuf: fromBuf,
    requestOptions: requestOptions,
    assertionJson: assertionJson
  };
})();
