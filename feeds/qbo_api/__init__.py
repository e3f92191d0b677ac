"""What QBO calls on linksite, under `/qbo/v1/` (`product.md` §6): a surface like the client API
and the Link pages. Talking to QBO (signing, the outbound client, the wire format) is
`feeds/qbo/`, below the domain."""
