namespace AttentionWise.Ops;

/// <summary>The DIA unit's element-wise passes around its dense layers (SPEC §3; Kernels/DiaKernels.cs for the
/// shapes): F [N, C, H, W] a conv's output, s, h, c [N, C], act [N, 4C]. Every pass runs one thread per (n, c).</summary>
internal interface IDiaCell
{
    /// <summary>s[n, c] = mean of F[n, c] over its <paramref name="plane"/> positions.</summary>
    void Pool(DeviceTensor f, DeviceTensor s, int plane);

    /// <summary>act holds the gate pre-activations on entry and their activations on exit; c' = f⊙c + i⊙g,
    /// h' = o⊙σ(c').</summary>
    void Cell(DeviceTensor act, DeviceTensor cNext, DeviceTensor hNext, DeviceTensor cPrev);

    /// <summary>out = ReLU(F ⊙ h).</summary>
    void ScaleRelu(DeviceTensor output, DeviceTensor f, DeviceTensor h, int plane);

    /// <summary>gh[n, c] = Σ_p [out &gt; 0]·gOut·F.</summary>
    void ScaleReluBackwardMask(DeviceTensor gh, DeviceTensor gOut, DeviceTensor output, DeviceTensor f, int plane);

    /// <summary>The gate pre-activation gradients and the previous cell's gradient from gh (+ the carried gh and gc of
    /// the next use, when given).</summary>
    void CellBackward(DeviceTensor gGates, DeviceTensor gcPrev, DeviceTensor ghOut, DeviceTensor? ghCarry, DeviceTensor? gcCarry, DeviceTensor act,
        DeviceTensor cNext, DeviceTensor cPrev);

    /// <summary>gF = [out &gt; 0]·gOut·h + gs/P.</summary>
    void ScaleReluBackwardInput(DeviceTensor gf, DeviceTensor gOut, DeviceTensor output, DeviceTensor h, DeviceTensor gs, int plane);
}
