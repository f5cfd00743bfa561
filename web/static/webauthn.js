// Akari: base64url <-> ArrayBuffer, for the WebAuthn ceremonies of the clinician login
// (login.js) and the admin pages (admin.js), which load this script first.
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

  window.akariB64url = { toBuf: toBuf, fromBuf: fromBuf };
})();
