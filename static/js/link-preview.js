// The operator's preview of the Link pages (admin): the page's forms and its links to other
// Link pages do nothing, so that no button acts on a Link session this browser may also hold.
// The banner's own links and language toggle still work; so do links to other sites.
document.addEventListener(
  "submit",
  (event) => {
    if (!event.target.closest(".preview-banner")) event.preventDefault();
  },
  true,
);
document.addEventListener(
  "click",
  (event) => {
    const link = event.target.closest("a[href]");
    if (!link || link.closest(".preview-banner")) return;
    if (link.origin === location.origin && link.pathname !== location.pathname) {
      event.preventDefault();
    }
  },
  true,
);
