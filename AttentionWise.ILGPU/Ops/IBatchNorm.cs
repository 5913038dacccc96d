namespace AttentionWise.Ops;

/// <summary>The settings of one batchnorm pass over C channels (Kernels/BatchNorm2dKernels.cs for the coefficients).</summary>
/// <param name="Training">Normalise with the batch statistics and update the running ones (else use the running ones).</param>
/// <param name="Unbias">count/(count − 1) of the batch, for the running variance.</param>
internal readonly record struct BatchNormPass(int Channels, bool Affine, bool Training, float Momentum, float Eps, float Unbias);

/// <summary>Batch normalisation per channel of NCHW tensors, y = x·scale + shift, with the coefficient tensors of a
/// pass ([4, C]) in between: the statistics come from <see cref="ChannelReductions"/>. Without affine parameters γ and
/// β (and their gradients) are not read or written.</summary>
internal interface IBatchNorm
{
    /// <summary>The forward coefficients of every channel; in training also the running statistics' update.</summary>
    void Coefficients(DeviceTensor coef, DeviceTensor runningMean, DeviceTensor runningVar, DeviceTensor mean, DeviceTensor variance, DeviceTensor gamma,
        DeviceTensor beta, BatchNormPass pass);

    /// <summary>y = x·coef[0, c] + coef[1, c] over [N, C, <paramref name="spatial"/>].</summary>
    void Normalize(DeviceTensor y, DeviceTensor x, DeviceTensor coef, int channels, int spatial);

    /// <summary>The backward coefficients from Σ gy and Σ gy·(x − mean), and the affine gradients' accumulation.</summary>
    void BackwardCoefficients(DeviceTensor back, DeviceTensor gradGamma, DeviceTensor gradBeta, DeviceTensor coef, DeviceTensor sumG, DeviceTensor sumGx,
        DeviceTensor gamma, BatchNormPass pass, float count);

    /// <summary>gx = a·(gy − mean(gy)) + b·(x − mean) with the backward coefficients.</summary>
    void BackwardInput(DeviceTensor gx, DeviceTensor gy, DeviceTensor x, DeviceTensor back, int channels, int spatial);
}
