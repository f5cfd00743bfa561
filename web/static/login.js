// Akari clinician login, security key step: with b64url.js, the only scripts of the
// clinician pages. The form #key-login carries the WebAuthn request options (JSON) in
// data-options. On submit the script asks the key for an assertion (user verification
// required: the key's PIN) and posts it back in the same form, with the form's CSRF
// token; if the browser produces none (cancelled, timed out, no matching key, no
// WebAuthn), it posts the failure class instead, so the server records the failed login
// and explains.
(function () {
  'use strict';

  var b64urlToBuf = window.akariB64url.toBuf;
  var bufToB64url = window.akariB64url.fromBuf;

  function requestOptions(json) {
    var pk = JSON.parse(json).publicKey;
    pk.challenge = b64urlToBuf(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = b64urlToBuf(c.id); });
    return { publicKey: pk };
  }

  function assertionJson(c) {
    var r = c.response;
    return {
      id: c.id,
      rawId: bufToB64url(c.rawId),
      type: c.type,
      response: {
        authenticatorData: bufToB64url(r.authenticatorData),
        clientDataJSON: bufToB64url(r.clientDataJSON),
        signature: bufToB64url(r.signature),
        userHandle: r.userHandle ? bufToB64url(r.userHandle) : null
      },
      extensions: {}
    };
  }

  function send(form, assertion, failure) {
    form.elements.assertion.value = assertion ? JSON.stringify(assertion) : '';
    form.elements.failure.value = failure || '';
    form.submit();
  }

  function ceremony(form) {
    var button = form.querySelector('button[type=submit]');
    if (!window.PublicKeyCredential || !navigator.credentials) {
      send(form, null, 'unsupported');
      return;
    }
    var options;
    try {
      options = requestOptions(form.getAttribute('data-options'));
    } catch (e) {
      send(form, null, 'error');
      return;
    }
    if (button) {
      button.disabled = true;
      button.textContent = button.getAttribute('data-waiting') || button.textContent;
    }
    navigator.credentials.get(options).then(function (cred) {
      send(form, assertionJson(cred), '');
    }).catch(function (e) {
      // NotAllowedError covers cancel, timeout and "no registered key present": the
      // browser does not tell them apart (on purpose).
      var name = e && e.name;
      send(form, null, (name === 'NotAllowedError' || name === 'AbortError') ? 'cancelled' : 'error');
    });
  }

  document.addEventListener('DOMContentLoaded', function () {
    var form = document.getElementById('key-login');
    if (!form) { return; }
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      ceremony(form);
    });
  });
}());
