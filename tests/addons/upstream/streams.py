"""Example REST chat streams as grok.com sends them (one NDJSON frame per line; see
docs/upstream.md, "The REST stream and its events")."""
from __future__ import annotations

PLAIN = b"""\
{"result":{"conversation":{"conversationId":"9f3c2a10-0d4e-4b8e-9c61-2f0a5b7d1e44"}}}
{"result":{"response":{"userResponse":{"responseId":"1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"}}}}
{"result":{"response":{"token":"2 + 2","isThinking":false,"messageTag":"final","responseId":"7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d"}}}
{"result":{"response":{"token":" equals **4**.","isThinking":false,"messageTag":"final","responseId":"7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d"}}}
{"result":{"response":{"modelResponse":{"responseId":"7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d","parentResponseId":"1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f","message":"2 + 2 equals **4**.","generatedImageUrls":[],"fileAttachments":[],"cardAttachmentsJson":[]}}}}
{"result":{"response":{"token":"","isThinking":false,"isSoftStop":true,"responseId":"7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d"}}}
{"result":{"response":{"finalMetadata":{"followUpSuggestions":[]},"responseId":"7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d"}}}
"""

THINKING = """\
{"result":{"conversation":{"conversationId":"c1"}}}
{"result":{"response":{"userResponse":{"responseId":"u1"}}}}
{"result":{"response":{"token":"Thinking about your request","isThinking":true,"messageTag":"header","messageStepId":0,"rolloutId":"Grok","responseId":"r1"}}}
{"result":{"response":{"token":"- The user wants 17 × 23.","isThinking":true,"messageTag":"summary","messageStepId":0,"rolloutId":"Grok","responseId":"r1"}}}
{"result":{"response":{"token":"- 17 × 20 = 340, 17 × 3 = 51, total 391.","isThinking":true,"messageTag":"summary","messageStepId":1,"rolloutId":"Grok","responseId":"r1"}}}
{"result":{"response":{"token":"17 × 23 = **391**.","isThinking":false,"messageTag":"final","responseId":"r1"}}}
{"result":{"response":{"modelResponse":{"responseId":"r1","message":"17 × 23 = **391**."}}}}
{"result":{"response":{"token":"","isSoftStop":true,"responseId":"r1"}}}
""".encode()

SEARCH = r"""{"result":{"conversation":{"conversationId":"c2"}}}
{"result":{"response":{"token":"Searching the web","isThinking":true,"messageTag":"header","messageStepId":0,"rolloutId":"Grok"}}}
{"result":{"response":{"token":"<xai:tool_usage_card><xai:tool_name><![CDATA[web_search]]></xai:tool_name><xai:tool_args><![CDATA[{\"query\":\"capital of France\"}]]></xai:tool_args></xai:tool_usage_card>","isThinking":true,"messageTag":"tool_usage_card","messageStepId":1,"rolloutId":"Grok","toolUsageCardId":"tc1","toolUsageCard":{"toolUsageCardId":"tc1","webSearch":{"args":{"query":"capital of France"}}}}}}
{"result":{"response":{"token":"","isThinking":true,"messageTag":"raw_function_result","messageStepId":1,"rolloutId":"Grok","toolUsageCardId":"tc1","webSearchResults":{"results":[{"url":"https://en.wikipedia.org/wiki/Paris","title":"Paris - Wikipedia"},{"url":"https://www.britannica.com/place/Paris","title":"Paris | Britannica"}]}}}}
{"result":{"response":{"toolUsageCardId":"tc1","messageStepId":1,"rolloutId":"Grok"}}}
{"result":{"response":{"cardAttachment":{"jsonData":"{\"id\":\"k3x9\",\"type\":\"render_inline_citation\",\"cardType\":\"citation_card\",\"url\":\"https://en.wikipedia.org/wiki/Paris\"}"},"messageTag":"final"}}}
{"result":{"response":{"token":"The capital of France is Paris.","isThinking":false,"messageTag":"final"}}}
{"result":{"response":{"token":"<grok:render card_id=\"k3x9\" card_type=\"citation_card\" type=\"render_inline_citation\"><argument name=\"citation_id\">0</argument></grok:render>","isThinking":false,"messageTag":"final"}}}
{"result":{"response":{"xSearchResults":{"results":[{"postId":"1800000000000000000","username":"someone","text":"Paris facts…"}]}}}}
{"result":{"response":{"modelResponse":{"responseId":"r1","message":"The capital of France is Paris.<grok:render card_id=\"k3x9\" card_type=\"citation_card\" type=\"render_inline_citation\"><argument name=\"citation_id\">0</argument></grok:render>"}}}}
{"result":{"response":{"token":"","isSoftStop":true}}}
""".encode()

IMAGES = r"""{"result":{"conversation":{"conversationId":"c3"}}}
{"result":{"response":{"cardAttachment":{"jsonData":"{\"id\":\"x1Xyo\",\"type\":\"render_generated_image\",\"cardType\":\"generated_image_card\",\"image_chunk\":null}"},"messageTag":"final"}}}
{"result":{"response":{"token":"<grok:render card_id=\"x1Xyo\" card_type=\"generated_image_card\" type=\"render_generated_image\"></grok:render>","isThinking":false,"messageTag":"final"}}}
{"result":{"response":{"cardAttachment":{"jsonData":"{\"id\":\"x1Xyo\",\"type\":\"render_generated_image\",\"cardType\":\"generated_image_card\",\"image_chunk\":{\"imageUuid\":\"6f0e\",\"imageUrl\":\"users/u/generated/6f0e/image.jpg\",\"progress\":100,\"moderated\":false}}"},"messageTag":"final"}}}
{"result":{"response":{"token":"Here is a moon.","isThinking":false,"messageTag":"final"}}}
{"result":{"response":{"modelResponse":{"responseId":"r1","message":"Here is a moon.","generatedImageUrls":["users/u/generated/6f0e/image.jpg"]}}}}
{"result":{"response":{"token":"","isSoftStop":true}}}
""".encode()
