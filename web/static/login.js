// Akari clinician login, security key step: with webauthn.js, the only scripts of the
// clinician pages. The form #key-login carries the WebAuthn request options (JSON) in
// data-options. On submit the script asks the key for an assertion (user verification
// required: the key's PIN) and posts it back in the same form, with the form's CSRF
// token; if the browser produces none (cancelled, timed out, no matching key, no
// WebAuthn), it posts the failure class instead, so the server records the failed login
// and explains.
(function () {
  'use strict';

  var requestOptions = window.akariWebAuthn.requestOptions;
  var assertionJson = window.akariWebAuthn.assertionJson;

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
      options = requestOptions(JSON.parse(form.getAttribute('data-options')));
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
