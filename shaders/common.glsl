// Shared helpers. Constants shared with the CPU twin (TAPS, TEMPORAL_EDGES, MASK_TINT, COC_FLOOR,
// BILATERAL_CUTOFF, LETTERBOX) come in as #defines from studio.render.effects.shader_defines().
// Pixel (x, y) of every target is image row y counted from the top: targets are read back
// with glReadPixels, which returns rows in the same order, so no flip is needed until presentation.

ivec2 pixel() { return ivec2(gl_FragCoord.xy); }

// Bilinear sample at the centre of output pixel p of an out_size grid (equals OpenCV INTER_LINEAR).
vec4 sample_at(sampler2D tex, ivec2 p, ivec2 out_size) {
    return texture(tex, (vec2(p) + 0.5) / vec2(out_size));
}

// Mean of the 2x2 exact-centre samples per output pixel (OpenCV INTER_NEAREST_EXACT to 2x, then INTER_AREA).
vec3 grid_sample(sampler2D tex, ivec2 p, ivec2 out_size) {
    ivec2 src = textureSize(tex, 0);
    vec2 scale = vec2(src) / vec2(2 * out_size);
    vec3 acc = vec3(0.0);
    for (int dy = 0; dy < 2; dy++) {
        for (int dx = 0; dx < 2; dx++) {
            ivec2 j = 2 * p + ivec2(dx, dy);
            ivec2 s = ivec2(floor((vec2(j) + 0.5) * scale));
            acc += texelFetch(tex, clamp(s, ivec2(0), src - 1), 0).rgb;
        }
    }
    return acc * 0.25;
}

float smoothstep_weight(vec2 edges, float x) {
    float t = clamp((x - edges.x) / (edges.y - edges.x), 0.0, 1.0);
    return t * t * (3.0 - 2.0 * t);
}
