"""What the chain's addons and the app use but that is not itself a chain addon: the model
catalogue, the quota-refresh scheduler, the NSFW account sequence, the SSRF-guarded fetcher
for client URLs and the offline token estimate. The grok.com client is `addons.upstream`."""
