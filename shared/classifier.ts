/**
 * The evaluation classifier's contract (`models/classifier.onnx`): its graph names, in one place for
 * the trainer that exports it, the evaluation that runs it and the training-time monitor.
 */
export const CLASSIFIER_IO = { image: 'image', probs: 'probs', features: 'features' } as const;

/** The digit classes the classifier tells apart. */
export const DIGIT_CLASSES = 10;
