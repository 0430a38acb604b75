// Persona Outdoor: page behaviour. Consent goes through the JS tag's persona.consent({...}),
// the single place the site records it; product views through persona.track.
(function () {
  "use strict";
  var persona = window.persona;
  var banner = document.getElementById("consent-banner");

  function choose(choice) {
    if (persona && persona.consent) persona.consent(choice);
    if (banner) banner.hidden = true;
  }
  function on(id, fn) {
    var el = document.getElementById(id);
    if (el) el.addEventListener("click", fn);
  }
  on("consent-accept", function () { choose({ analytics: true, advertising: true }); });
  on("consent-analytics", function () { choose({ analytics: true, advertising: false }); });
  on("consent-deny", function () { choose({ analytics: false, advertising: false }); });
  on("consent-manage", function () { if (banner) banner.hidden = false; });

  var product = document.querySelector("[data-product]");
  if (product && persona && persona.track) {
    persona.track("Product Viewed", {
      product_id: product.getAttribute("data-product"),
      name: product.getAttribute("data-name"),
      category: product.getAttribute("data-category"),
      price: parseFloat(product.getAttribute("data-price")),
      currency: "EUR"
    });
  }
})();
